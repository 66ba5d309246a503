import Catalog
import GRDB

/// The tables of synchronized sessions, registered after the catalog's own migrations.
public enum SessionSchema {
    public static let migrations: [AppDatabase.Migration] = [
        AppDatabase.Migration("v5 synchronized sessions") { db in try db.execute(sql: v5) }
    ]

    static let v5 = """
        CREATE TABLE syncSession (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            title TEXT NOT NULL,
            districtId INTEGER NOT NULL REFERENCES district(id),
            schedulerId INTEGER NOT NULL REFERENCES person(id),
            -- What plays: a ready recording; 'live' sources come from a recording classroom.
            sourceKind TEXT NOT NULL DEFAULT 'recording' CHECK (sourceKind IN ('recording', 'live')),
            recordingId INTEGER REFERENCES recording(id),
            duration REAL,
            startsAt DATETIME NOT NULL,
            memberTeachersHost INTEGER NOT NULL DEFAULT 0,
            -- The clock (SessionClock): state, anchor, revision.
            state TEXT NOT NULL CHECK (state IN ('scheduled', 'running', 'paused', 'ended', 'cancelled')),
            anchorTime DATETIME,
            anchorPosition REAL NOT NULL DEFAULT 0,
            revision INTEGER NOT NULL DEFAULT 0,
            createdAt DATETIME NOT NULL,
            updatedAt DATETIME NOT NULL,
            CHECK (sourceKind = 'live' OR recordingId IS NOT NULL)
        );
        CREATE INDEX syncSession_districtId ON syncSession(districtId, startsAt);
        CREATE TABLE syncSessionTarget (
            sessionId INTEGER NOT NULL REFERENCES syncSession(id) ON DELETE CASCADE,
            classroomId INTEGER NOT NULL REFERENCES classroom(id),
            PRIMARY KEY (sessionId, classroomId)
        ) WITHOUT ROWID;
        CREATE INDEX syncSessionTarget_classroomId ON syncSessionTarget(classroomId);
        CREATE TABLE syncAttendance (
            sessionId INTEGER NOT NULL REFERENCES syncSession(id) ON DELETE CASCADE,
            classroomId INTEGER NOT NULL REFERENCES classroom(id),
            joinedAt DATETIME NOT NULL,
            leftAt DATETIME,
            lastReportAt DATETIME,
            watchedSeconds REAL NOT NULL DEFAULT 0,
            stallCount INTEGER NOT NULL DEFAULT 0,
            stallSeconds REAL NOT NULL DEFAULT 0,
            -- {"720p": 512.0, "360p": 30.5}: seconds played in each tier.
            tierSeconds TEXT NOT NULL DEFAULT '{}',
            lastTier TEXT,
            lastOffset REAL,
            PRIMARY KEY (sessionId, classroomId)
        ) WITHOUT ROWID;
        CREATE TABLE syncQuestion (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            sessionId INTEGER NOT NULL REFERENCES syncSession(id) ON DELETE CASCADE,
            classroomId INTEGER REFERENCES classroom(id),
            personId INTEGER NOT NULL REFERENCES person(id),
            kind TEXT NOT NULL CHECK (kind IN ('hand', 'question')),
            text TEXT NOT NULL DEFAULT '',
            createdAt DATETIME NOT NULL,
            answeredAt DATETIME
        );
        CREATE INDEX syncQuestion_sessionId ON syncQuestion(sessionId);
        """
}
