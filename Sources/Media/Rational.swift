internal import CFFmpeg

/// A rational number as libav uses for time bases, frame rates and aspect ratios.
public struct Rational: Sendable, Codable, Hashable, CustomStringConvertible {
    public var numerator: Int
    public var denominator: Int

    public init(_ numerator: Int, _ denominator: Int) {
        self.numerator = numerator
        self.denominator = denominator
    }

    init(_ value: AVRational) { self.init(Int(value.num), Int(value.den)) }

    var av: AVRational { AVRational(num: Int32(numerator), den: Int32(denominator)) }

    /// True when both parts are positive: libav uses 0/1 and 0/0 for "unknown".
    public var isValid: Bool { numerator > 0 && denominator > 0 }

    public var doubleValue: Double { denominator == 0 ? 0 : Double(numerator) / Double(denominator) }

    public var description: String { "\(numerator)/\(denominator)" }
}
