import Foundation

/// The JSON bodies of the runner protocol, defined once for both ends: the server's
/// `RunnersController` and `lessonlink runner`'s `RemoteRunner` (beside `RunnerJobs.Offer`,
/// `Assignment` and `ResultManifest`).
public enum RunnerMessages {
    /// `POST /api/v1/runners/register`.
    public struct Registration: Codable, Sendable {
        public var registrationToken: String
        public var name: String

        public init(registrationToken: String, name: String) {
            self.registrationToken = registrationToken
            self.name = name
        }
    }

    /// Its answer; the runner token is shown once.
    public struct Registered: Codable, Sendable {
        public var runnerId: Int64
        public var name: String
        public var runnerToken: String

        public init(runnerId: Int64, name: String, runnerToken: String) {
            self.runnerId = runnerId
            self.name = name
            self.runnerToken = runnerToken
        }
    }

    /// `POST /api/v1/runners/jobs/request`'s answer.
    public struct Offers: Codable, Sendable {
        public var jobs: [RunnerJobs.Offer]

        public init(jobs: [RunnerJobs.Offer]) { self.jobs = jobs }
    }

    /// `POST …/update`: progress, which extends the lease.
    public struct Progress: Codable, Sendable {
        public var progress: Double
        public var etaSeconds: Double?

        public init(progress: Double, etaSeconds: Double?) {
            self.progress = progress
            self.etaSeconds = etaSeconds
        }
    }

    /// `GET …/files`: the result files received whole so far (uploads in progress are not listed).
    public struct Received: Codable, Sendable {
        public struct File: Codable, Sendable {
            public var path: String
            public var size: Int64

            public init(path: String, size: Int64) {
                self.path = path
                self.size = size
            }
        }
        public var files: [File]

        public init(files: [File]) { self.files = files }
    }

    /// `POST …/error`: why the runner could not transcode.
    public struct Failure: Codable, Sendable {
        public var message: String
        public var permanent: Bool?

        public init(message: String, permanent: Bool?) {
            self.message = message
            self.permanent = permanent
        }
    }
}
