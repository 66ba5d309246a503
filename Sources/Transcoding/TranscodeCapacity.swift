import Foundation

/// How much video a county records a day against what its transcoders can do
/// (`lessonlink plan --transcode`): pure arithmetic, so the estimate can be tested.
public struct TranscodeCapacity: Sendable, Equatable {
    /// Recording classrooms, lessons each records a day, and a lesson's length.
    public var classrooms: Int
    public var lessonsPerDay: Double
    public var lessonMinutes: Double
    /// Measured speeds (media seconds per wall second) of the runners that are not revoked.
    public var runnerSpeeds: [Double]
    /// Hours a day the runners are available (a lead school's PCs: the night).
    public var runnerHours: Double
    /// The server's own worker, if it transcodes too, and its speed.
    public var workerSpeed: Double?

    public init(classrooms: Int, lessonsPerDay: Double, lessonMinutes: Double, runnerSpeeds: [Double], runnerHours: Double, workerSpeed: Double?) {
        self.classrooms = classrooms
        self.lessonsPerDay = lessonsPerDay
        self.lessonMinutes = lessonMinutes
        self.runnerSpeeds = runnerSpeeds
        self.runnerHours = runnerHours
        self.workerSpeed = workerSpeed
    }

    /// Hours of video recorded a day.
    public var recordedHours: Double { Double(classrooms) * lessonsPerDay * lessonMinutes / 60 }

    /// Hours of video transcoded a day.
    public var capacityHours: Double { runnerSpeeds.reduce(0, +) * runnerHours + (workerSpeed ?? 0) * 24 }

    /// Share of the day's recordings transcoded the same day (1 or more: everything).
    public var share: Double { recordedHours > 0 ? capacityHours / recordedHours : 1 }

    /// More runners like the average measured one that would cover the rest (nil: none measured yet).
    public var runnersMissing: Int? {
        guard recordedHours > capacityHours else { return 0 }
        guard !runnerSpeeds.isEmpty, runnerHours > 0 else { return nil }
        let average = runnerSpeeds.reduce(0, +) / Double(runnerSpeeds.count)
        guard average > 0 else { return nil }
        return Int(((recordedHours - capacityHours) / (average * runnerHours)).rounded(.up))
    }
}
