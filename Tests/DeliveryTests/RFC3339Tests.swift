import Foundation
import Testing
import WebServing

@Suite("RFC 3339 date-time")
struct RFC3339Tests {
    @Test(
        "What format: date-time admits is read to the instant it names",
        arguments: [
            ("2026-12-01T08:00:00+08:00", 1_796_083_200.0),
            ("2026-12-01t00:00:00z", 1_796_083_200.0),
            ("2026-12-01 00:00:00Z", 1_796_083_200.0),
            ("2026-12-01T00:00:00.123456Z", 1_796_083_200.123456),
            ("1970-01-01T00:00:00-01:30", 5400.0),
            ("2024-02-29T23:59:60Z", 1_709_251_200.0),
            ("1900-03-01T00:00:00Z", -2_203_891_200.0),
        ])
    func valid(_ text: String, _ seconds: Double) throws {
        let date = try #require(RFC3339.date(text))
        #expect(abs(date.timeIntervalSince1970 - seconds) < 1e-5)
    }

    @Test(
        "Anything else is refused",
        arguments: [
            "tomorrow", "2026-12-01", "2026-12-01T08:00:00", "2026-13-01T00:00:00Z", "2025-02-29T00:00:00Z", "2026-12-01T24:00:00Z",
            "2026-12-01T08:00:00.Z", "2026-12-01T08:00:00+0800", "2026-12-01T08:00:00Z ", "２０２６-12-01T08:00:00Z",
        ])
    func invalid(_ text: String) {
        #expect(RFC3339.date(text) == nil)
    }
}
