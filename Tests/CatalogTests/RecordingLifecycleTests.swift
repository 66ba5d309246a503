@testable import Catalog
import Foundation
import GRDB
import Testing

@Suite("Recording lifecycle")
struct RecordingLifecycleTests {
    typealias Event = RecordingLifecycle.Event

    /// Every event in every state, with and without published media: the expected next state, or
    /// nil where the event is refused.
    static let table: [(Event, Recording.State, Bool, Recording.State?)] = [
        // Upload outcomes only make sense while uploading.
        (.accepted, .uploading, false, .queued),
        (.accepted, .queued, false, nil),
        (.accepted, .ready, true, nil),
        (.accepted, .failed, false, nil),
        (.rejected(reason: "dup"), .uploading, false, .failed),
        (.rejected(reason: "dup"), .queued, false, nil),
        (.rejected(reason: "dup"), .ready, true, nil),
        // Queueing: not while uploading; a recording with media stays playable.
        (.transcodeQueued, .uploading, false, nil),
        (.transcodeQueued, .queued, false, .queued),
        (.transcodeQueued, .failed, false, .queued),
        (.transcodeQueued, .ready, false, .queued),
        (.transcodeQueued, .ready, true, .ready),
        (.transcodeQueued, .processing, false, .queued),
        // Starting.
        (.transcodeStarted, .uploading, false, nil),
        (.transcodeStarted, .failed, false, nil),
        (.transcodeStarted, .queued, false, .processing),
        (.transcodeStarted, .processing, false, .processing),
        (.transcodeStarted, .ready, true, .ready),
        // Publishing.
        (.transcodePublished, .processing, false, .ready),
        (.transcodePublished, .queued, false, .ready),
        (.transcodePublished, .ready, true, .ready),
        (.transcodePublished, .uploading, false, nil),
        (.transcodePublished, .failed, false, nil),
        // Stopping without media.
        (.transcodeStopped(reason: "x"), .processing, false, .failed),
        (.transcodeStopped(reason: "x"), .queued, false, .failed),
        (.transcodeStopped(reason: "x"), .ready, true, .ready),
        (.transcodeStopped(reason: "x"), .uploading, false, nil),
        (.transcodeStopped(reason: "x"), .failed, false, nil),
        // Deletion is allowed from everywhere and keeps the state.
        (.deleted, .uploading, false, .uploading),
        (.deleted, .processing, false, .processing),
        (.deleted, .ready, true, .ready),
        (.deleted, .failed, false, .failed),
    ]

    @Test("transitions", arguments: 0..<table.count)
    func transition(_ row: Int) {
        let (event, state, hasMedia, expected) = Self.table[row]
        let result = RecordingLifecycle.apply(event, to: state, hasMedia: hasMedia)
        switch result {
        case .success(let outcome):
            #expect(outcome.state == expected, "\(event) from \(state) (media: \(hasMedia))")
        case .failure(let refusal):
            #expect(expected == nil, "\(event) from \(state) refused: \(refusal)")
            #expect(refusal.state == state)
        }
    }

    @Test("failures carry their reason and clear once the recording moves on")
    func failureText() throws {
        let rejected = try RecordingLifecycle.apply(.rejected(reason: "not a video"), to: .uploading, hasMedia: false).get()
        #expect(rejected == .init(state: .failed, failure: "not a video"))
        let retried = try RecordingLifecycle.apply(.transcodeQueued, to: .failed, hasMedia: false, failure: "old").get()
        #expect(retried.failure == nil)
        let stopped = try RecordingLifecycle.apply(.transcodeStopped(reason: "cancelled"), to: .processing, hasMedia: false).get()
        #expect(stopped.failure == "cancelled")
        // A failed re-transcode leaves a playable recording as it was.
        let kept = try RecordingLifecycle.apply(.transcodeStopped(reason: "boom"), to: .ready, hasMedia: true, failure: nil).get()
        #expect(kept == .init(state: .ready, failure: nil))
    }

    @Test("the store applies events to stored rows, refuses the impossible, and keeps the search facet in step")
    func storeTransition() async throws {
        let county = try await CatalogFixture()
        // Given an uploading recording
        let id = try await county.add("秋天的雨", by: county.teacher, state: .uploading)
        // When its upload is accepted and a worker starts on it
        let state = try await county.database.write { db -> Recording.State in
            try RecordingStore.transition(id, .accepted, db)
            var recording = try #require(try Recording.fetchOne(db, key: id))
            return try RecordingStore.transition(&recording, .transcodeStarted, db)
        }
        // Then it is processing, and the state filter finds it there
        #expect(state == .processing)
        var query = RecordingQuery()
        query.state = .processing
        let page = try await RecordingStore(database: county.database).list(query, viewer: Viewer(county.teacher))
        #expect(page.items.map(\.id) == [id])
        // And an upload event can no longer happen to it
        await #expect(throws: RecordingLifecycle.Refusal.self) {
            try await county.database.write { db in try RecordingStore.transition(id, .accepted, db) }
        }
        let stored = try await county.database.read { db in try Recording.fetchOne(db, key: id) }
        #expect(stored?.state == .processing)
    }
}

@Suite("Recording values")
struct RecordingValueTests {
    @Test("recordedOn days are real calendar days")
    func days() {
        for day in ["2026-09-01", "2024-02-29", "2000-02-29", "0001-01-01", "2026-12-31"] {
            #expect(Recording.isDay(day), "\(day)")
        }
        for day in ["2026-02-29", "1900-02-29", "2026-04-31", "2026-13-01", "2026-00-10", "2026-1-01", "2026-01-01T", "", "２０２６-01-01"] {
            #expect(!Recording.isDay(day), "\(day)")
        }
    }

    @Test("Catalog cursors: an id, and in title order a title; anything else is refused")
    func cursors() throws {
        let titled = RecordingStore.Cursor(key: "秋天~的雨", id: 12)
        #expect(try RecordingStore.Cursor.decode(titled.encoded) == titled)
        #expect(try RecordingStore.Cursor.decode("7") == RecordingStore.Cursor(key: nil, id: 7))
        for bad in ["", "abc", "~x", "-1", "1234567890123456789", String(repeating: "1", count: 600)] {
            #expect(throws: CatalogError.invalidCursor) { try RecordingStore.Cursor.decode(bad) }
        }
    }
}

@Suite("Renames")
struct RenameTests {
    @Test("Renaming a teacher or a school re-indexes their recordings at once")
    func renames() async throws {
        // Given a recording by 王丽 at 城关第一小学
        let county = try await CatalogFixture()
        try await county.add("秋天的雨 第一课时", by: county.teacher, lesson: "秋天的雨")
        #expect(try await county.search("王丽", as: county.otherTeacher) == ["秋天的雨 第一课时"])
        // When the teacher and the school are renamed
        let directory = DirectoryStore(database: county.database)
        #expect(try await directory.rename(person: county.teacher.username, to: "王丽华"))
        #expect(try await directory.rename(school: county.teacher.schoolId!, to: "青山实验小学"))
        #expect(try await directory.rename(person: "nobody", to: "x") == false)
        // Then search finds the new names, not the old ones
        #expect(try await county.search("丽华", as: county.otherTeacher) == ["秋天的雨 第一课时"])
        #expect(try await county.search("实验", as: county.otherTeacher) == ["秋天的雨 第一课时"])
        #expect(try await county.search("城关", as: county.otherTeacher) == [])
    }
}
