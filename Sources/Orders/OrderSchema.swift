import Catalog
import GRDB

/// The orders' tables, registered after the review's and the notices' migrations.
public enum OrderSchema {
    public static let migrations: [AppDatabase.Migration] = [
        AppDatabase.Migration("v9 orders") { db in try db.execute(sql: v9) }
    ]

    static let v9 = """
        CREATE TABLE resourceOrder (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            schoolId INTEGER NOT NULL REFERENCES school(id),
            districtId INTEGER NOT NULL REFERENCES district(id),
            placedBy INTEGER NOT NULL REFERENCES person(id),
            -- What: a volume and some of its lessons, or a free-text topic.
            volumeId INTEGER REFERENCES textbookVolume(id),
            topic TEXT,
            grade INTEGER NOT NULL CHECK (grade BETWEEN 1 AND 12),
            classes INTEGER NOT NULL CHECK (classes BETWEEN 1 AND 50),
            pupils TEXT NOT NULL DEFAULT '',
            format TEXT NOT NULL CHECK (format IN ('lessons', 'pack', 'session')),
            neededBy TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('placed', 'dispatched', 'accepted', 'delivered', 'rated', 'declined', 'rework', 'cancelled')),
            leadSchoolId INTEGER REFERENCES school(id),
            dueOn TEXT,
            responsibleTeacherId INTEGER REFERENCES person(id),
            reworkUsed BOOLEAN NOT NULL DEFAULT 0,
            ratingFit INTEGER, ratingQuality INTEGER, ratingTimeliness INTEGER,
            ratingComment TEXT,
            placedAt DATETIME NOT NULL,
            dispatchedAt DATETIME,
            deliveredAt DATETIME,
            ratedAt DATETIME,
            reminderSentAt DATETIME,
            updatedAt DATETIME NOT NULL,
            -- The date it is late after: the dispatch's due date, or before that the needed-by date.
            deadline TEXT GENERATED ALWAYS AS (COALESCE(dueOn, neededBy)) VIRTUAL,
            CHECK ((volumeId IS NULL) != (topic IS NULL))
        );
        -- An inbox reads three runs, each from an index in its own order: open orders by deadline
        -- (the overdue ones, then the rest; partial indexes over the few open orders), then
        -- closed ones newest first (the rowid ends every index).
        CREATE INDEX resourceOrder_district ON resourceOrder(districtId);
        CREATE INDEX resourceOrder_school ON resourceOrder(schoolId);
        CREATE INDEX resourceOrder_lead ON resourceOrder(leadSchoolId);
        CREATE INDEX resourceOrder_openAll ON resourceOrder(deadline) WHERE state IN ('placed', 'dispatched', 'accepted', 'declined', 'rework');
        CREATE INDEX resourceOrder_openDistrict ON resourceOrder(districtId, deadline)
            WHERE state IN ('placed', 'dispatched', 'accepted', 'declined', 'rework');
        CREATE INDEX resourceOrder_openSchool ON resourceOrder(schoolId, deadline)
            WHERE state IN ('placed', 'dispatched', 'accepted', 'declined', 'rework');
        CREATE INDEX resourceOrder_openLead ON resourceOrder(leadSchoolId, deadline)
            WHERE state IN ('placed', 'dispatched', 'accepted', 'declined', 'rework');
        CREATE TABLE resourceOrderLesson (
            orderId INTEGER NOT NULL REFERENCES resourceOrder(id) ON DELETE CASCADE,
            lessonId INTEGER NOT NULL REFERENCES textbookLesson(id),
            PRIMARY KEY (orderId, lessonId)
        );
        -- What was delivered: published pack versions and ready recordings.
        CREATE TABLE resourceOrderDelivery (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            orderId INTEGER NOT NULL REFERENCES resourceOrder(id) ON DELETE CASCADE,
            packVersionId INTEGER REFERENCES packVersion(id),
            recordingId INTEGER REFERENCES recording(id),
            deliveredBy INTEGER NOT NULL REFERENCES person(id),
            at DATETIME NOT NULL,
            CHECK ((packVersionId IS NULL) != (recordingId IS NULL))
        );
        CREATE INDEX resourceOrderDelivery_order ON resourceOrderDelivery(orderId);
        CREATE TABLE resourceOrderAttachment (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            orderId INTEGER NOT NULL REFERENCES resourceOrder(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            contentType TEXT NOT NULL,
            size INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            addedBy INTEGER NOT NULL REFERENCES person(id),
            at DATETIME NOT NULL
        );
        -- Every step, append-only: who, when, from, to, why.
        CREATE TABLE resourceOrderEvent (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            orderId INTEGER NOT NULL REFERENCES resourceOrder(id) ON DELETE CASCADE,
            action TEXT NOT NULL,
            fromState TEXT,
            toState TEXT NOT NULL,
            personId INTEGER NOT NULL REFERENCES person(id),
            reason TEXT NOT NULL DEFAULT '',
            at DATETIME NOT NULL
        );
        CREATE INDEX resourceOrderEvent_order ON resourceOrderEvent(orderId, id);
        CREATE TRIGGER resourceOrderEvent_appendOnly BEFORE UPDATE ON resourceOrderEvent
        BEGIN SELECT RAISE(ABORT, 'order history is append-only'); END;
        """
}
