import Credentials
import Foundation
import Testing

/// RFC 8785's own examples.
@Suite("JSON Canonicalization Scheme (RFC 8785)")
struct JCSTests {
    /// Appendix B: IEEE-754 doubles and their canonical text.
    @Test(
        "Numbers are written as ECMAScript writes them",
        arguments: [
            ("0000000000000000", "0"), ("8000000000000000", "0"), ("0000000000000001", "5e-324"),
            ("8000000000000001", "-5e-324"), ("7fefffffffffffff", "1.7976931348623157e+308"),
            ("ffefffffffffffff", "-1.7976931348623157e+308"), ("4340000000000000", "9007199254740992"),
            ("c340000000000000", "-9007199254740992"), ("4430000000000000", "295147905179352830000"),
            ("44b52d02c7e14af5", "9.999999999999997e+22"), ("44b52d02c7e14af6", "1e+23"),
            ("44b52d02c7e14af7", "1.0000000000000001e+23"), ("444b1ae4d6e2ef4e", "999999999999999700000"),
            ("444b1ae4d6e2ef4f", "999999999999999900000"), ("444b1ae4d6e2ef50", "1e+21"),
            ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"), ("3eb0c6f7a0b5ed8d", "0.000001"),
            ("41b3de4355555553", "333333333.3333332"), ("41b3de4355555554", "333333333.33333325"),
            ("41b3de4355555555", "333333333.3333333"), ("41b3de4355555556", "333333333.3333334"),
            ("41b3de4355555557", "333333333.33333343"), ("becbf647612f3696", "-0.0000033333333333333333"),
            ("43143ff3c1cb0959", "1424953923781206.2"),
        ])
    func numbers(_ bits: String, _ expected: String) throws {
        let value = Double(bitPattern: UInt64(bits, radix: 16)!)
        #expect(try JCS.number(value) == expected)
    }

    @Test("NaN and the infinities have no canonical form")
    func notANumber() {
        #expect(throws: JSONError.notANumber) { try JCS.number(.nan) }
        #expect(throws: JSONError.notANumber) { try JCS.number(.infinity) }
    }

    /// §3.2.2: the example with numbers, an escaped string and literals.
    @Test("Whitespace goes, strings keep only the required escapes, literals stay")
    func example() throws {
        let input = #"""
            {
              "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
              "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
              "literals": [null, true, false]
            }
            """#
        let canonical = try JCS.canonical(try JSONValue.parse(Data(input.utf8)))
        #expect(
            String(decoding: canonical, as: UTF8.self)
                == #"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#)
    }

    /// §3.2.3: keys sorted by UTF-16 code units (so the emoji's surrogates sort before U+FB33).
    @Test("Members are sorted by their keys' UTF-16 code units")
    func sorting() throws {
        let input = #"""
            {"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One",
             "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis"}
            """#
        guard case .object(let members) = try JSONValue.parse(Data(JCS.canonical(try JSONValue.parse(Data(input.utf8))))) else {
            Issue.record("not an object")
            return
        }
        #expect(members.map(\.1.stringValue!) == [
            "Carriage Return", "One", "Control", "Latin Small Letter O With Diaeresis", "Euro Sign", "Emoji: Grinning Face",
            "Hebrew Letter Dalet With Dagesh",
        ])
    }

    @Test("Input that I-JSON forbids is refused: duplicate keys, lone surrogates, bad numbers")
    func refused() {
        for text in [#"{"a":1,"a":2}"#, #""\ud800""#, "01", "1.", "-", "[1,]", "{\"a\" 1}", "\"\u{01}\"", "1e400", "tru"] {
            #expect(throws: JSONError.self, "\(text)") { try JSONValue.parse(Data(text.utf8)) }
        }
    }
}
