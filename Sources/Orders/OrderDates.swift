import Foundation

/// Calendar days as orders use them: `YYYY-MM-DD` in the server's time zone (a county's server
/// runs on its local time), and school days (Monday to Friday) for the acceptance reminder.
public enum OrderDates {
    static var calendar: Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .current
        return calendar
    }

    /// The day `date` falls on, `YYYY-MM-DD`.
    public static func day(_ date: Date) -> String {
        let parts = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
    }

    /// Whether `text` is a real calendar date written `YYYY-MM-DD` (so string order is date order).
    public static func isDate(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard text.utf8.count == 10, parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]), text.allSatisfy({ $0.isASCII })
        else { return false }
        let components = DateComponents(year: year, month: month, day: day)
        guard let date = calendar.date(from: components) else { return false }
        return self.day(date) == text
    }

    /// Whole school days (weekdays) from `start` to `end`: a Friday-afternoon dispatch has had
    /// one school day by Monday afternoon.
    public static func schoolDays(from start: Date, to end: Date) -> Int {
        guard end > start else { return 0 }
        var count = 0
        var day = start
        while let next = calendar.date(byAdding: .day, value: 1, to: day), next <= end {
            if !calendar.isDateInWeekend(next) { count += 1 }
            day = next
        }
        return count
    }
}
