import Catalog
import GRDB
import Media

/// Which tier a school's classrooms can all stream at once.
///
/// Every classroom's stream crosses two links: the classroom's own (100 Mb/s by default) and the
/// school's uplink (1 Gb/s by default), which all of its streaming classrooms share. A tier fits
/// when its peak rate (video `maxRate` plus the audio rendition) stays within both, after keeping
/// `headroom` of each link free for everything else a school does. The planner names the best
/// tier that fits and says whether the school is under-served: unable to give every classroom
/// the ladder's top tier, the one made for a projector's blackboard writing.
public struct TierPlanner: Sendable {
    public struct Tier: Codable, Sendable, Equatable {
        public var name: String
        /// Peak bits per second of one stream of this tier, audio included.
        public var bitsPerSecond: Int
        public var fits: Bool
    }

    public struct Plan: Codable, Sendable, Equatable {
        public var uplinkMbps: Int
        public var classroomLinkMbps: Int
        public var classrooms: Int
        public var headroom: Double
        /// What each classroom may use: the smaller of its link and its share of the uplink.
        public var perClassroomMbps: Double
        /// The best tier that fits, or nil when not even the smallest video tier does.
        public var tier: String?
        public var underServed: Bool
        public var tiers: [Tier]
    }

    public var ladder: Ladder

    public init(ladder: Ladder) { self.ladder = ladder }

    public func plan(uplinkMbps: Int, classroomLinkMbps: Int, classrooms: Int, headroom: Double = 0.3) -> Plan {
        let classrooms = max(1, classrooms)
        let usable = 1 - min(max(headroom, 0), 0.95)
        let perClassroom = min(Double(classroomLinkMbps) * usable, Double(uplinkMbps) * usable / Double(classrooms))
        let audio = ladder.audio.first?.bitRate ?? 0
        let tiers = ladder.video.sorted { $0.height > $1.height }.map { video in
            Tier(name: video.name, bitsPerSecond: video.maxRate + audio, fits: Double(video.maxRate + audio) <= perClassroom * 1_000_000)
        }
        let best = tiers.first { $0.fits }
        return Plan(
            uplinkMbps: uplinkMbps, classroomLinkMbps: classroomLinkMbps, classrooms: classrooms, headroom: 1 - usable,
            perClassroomMbps: perClassroom, tier: best?.name, underServed: best == nil || best?.name != tiers.first?.name,
            tiers: tiers)
    }
}

extension TierPlanner {
    /// The plan for one school from its stored links: its uplink, its slowest classroom link (the
    /// one that decides whether every classroom can play a tier), and by default all of its
    /// classrooms streaming at once. Nil when there is no such school.
    public func plan(school schoolId: Int64, classrooms: Int?, headroom: Double, database: AppDatabase) async throws -> Plan? {
        let links = try await database.read { db -> (uplink: Int, slowest: Int?, count: Int)? in
            guard let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT s.uplinkMbps, min(c.linkMbps) AS slowest, count(c.id) AS classrooms
                    FROM school s LEFT JOIN classroom c ON c.schoolId = s.id
                    WHERE s.id = ? GROUP BY s.id
                    """, arguments: [schoolId])
            else { return nil }
            return (row["uplinkMbps"], row["slowest"], row["classrooms"])
        }
        guard let links else { return nil }
        return plan(
            uplinkMbps: links.uplink, classroomLinkMbps: links.slowest ?? 100, classrooms: classrooms ?? max(1, links.count),
            headroom: headroom)
    }
}
