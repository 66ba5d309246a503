import Catalog
import GRDB

/// The review's tables, registered after the catalog's and the sessions' migrations.
public enum ReviewSchema {
    public static let migrations: [AppDatabase.Migration] = [
        AppDatabase.Migration("v6 review offices and submissions") { db in try db.execute(sql: v6) },
        AppDatabase.Migration("v7 timeline comments and credits") { db in try db.execute(sql: v7) },
    ]

    static let v6 = """
        CREATE TABLE reviewOffice (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE,
            level TEXT NOT NULL CHECK (level IN ('county', 'city')),
            -- What the office covers, in words (a county, a city's counties).
            scope TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE reviewOfficeMember (
            personId INTEGER PRIMARY KEY REFERENCES person(id) ON DELETE CASCADE,
            officeId INTEGER NOT NULL REFERENCES reviewOffice(id)
        );
        CREATE TABLE reviewSubmission (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            recordingId INTEGER NOT NULL UNIQUE REFERENCES recording(id),
            teacherId INTEGER NOT NULL REFERENCES person(id),
            schoolId INTEGER NOT NULL REFERENCES school(id),
            state TEXT NOT NULL CHECK (state IN ('awaiting', 'inReview', 'returned', 'approved', 'revoked')),
            level TEXT CHECK (level IN ('county', 'city')),
            claimedBy INTEGER REFERENCES person(id),
            submittedAt DATETIME NOT NULL,
            updatedAt DATETIME NOT NULL
        );
        CREATE INDEX reviewSubmission_queue ON reviewSubmission(state, level, submittedAt);
        -- Every step, kept: who, when, what, the scores and the words.
        CREATE TABLE reviewEvent (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            submissionId INTEGER NOT NULL REFERENCES reviewSubmission(id),
            action TEXT NOT NULL,
            personId INTEGER NOT NULL REFERENCES person(id),
            level TEXT,
            scores TEXT,
            comment TEXT NOT NULL DEFAULT '',
            at DATETIME NOT NULL
        );
        CREATE INDEX reviewEvent_submissionId ON reviewEvent(submissionId);
        """

    static let v7 = """
        -- A comment at a moment of a recording; a reply names the comment it answers (one level).
        CREATE TABLE recordingComment (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            recordingId INTEGER NOT NULL REFERENCES recording(id),
            parentId INTEGER REFERENCES recordingComment(id),
            personId INTEGER NOT NULL REFERENCES person(id),
            position REAL NOT NULL CHECK (position >= 0),
            body TEXT NOT NULL,
            createdAt DATETIME NOT NULL
        );
        CREATE INDEX recordingComment_recording ON recordingComment(recordingId, position);
        -- One semester of 支教 credit per teacher and volume; the signed credential as issued.
        CREATE TABLE credit (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            credentialId TEXT NOT NULL UNIQUE,
            teacherId INTEGER NOT NULL REFERENCES person(id),
            volumeId INTEGER NOT NULL REFERENCES textbookVolume(id),
            statusIndex INTEGER NOT NULL UNIQUE,
            credential TEXT NOT NULL,
            issuedAt DATETIME NOT NULL,
            revokedAt DATETIME,
            revokedBy INTEGER REFERENCES person(id),
            revokeReason TEXT
        );
        -- At most one standing credit per teacher and volume, whatever races.
        CREATE UNIQUE INDEX credit_standing ON credit(teacherId, volumeId) WHERE revokedAt IS NULL;
        """
}
