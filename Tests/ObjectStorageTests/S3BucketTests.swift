import Crypto
import Foundation
import ObjectStorage
import Testing
import TestSupport

@Suite("S3 bucket, against moto's server")
struct S3BucketTests {
    static func sha(_ data: Data) -> String { SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined() }

    @Test func smallObjectsPutReadListAndDelete() async throws {
        let bucket = try await MotoServer.shared.bucket()
        let playlist = Data("#EXTM3U\n#EXT-X-VERSION:7\n".utf8)
        try await bucket.put(data: playlist, key: "media/7/v3/720p/index.m3u8", contentType: "application/vnd.apple.mpegurl")
        try await bucket.put(data: Data("poster".utf8), key: "media/7/v3/poster.jpg")
        try await bucket.put(data: Data("other".utf8), key: "media/70/v1/poster.jpg")
        #expect(try await bucket.data(key: "media/7/v3/720p/index.m3u8") == playlist)
        #expect(try await bucket.head(key: "media/7/v3/720p/index.m3u8")?.size == Int64(playlist.count))
        #expect(try await bucket.head(key: "media/7/v3/missing.m4s") == nil)
        #expect(try await bucket.data(key: "media/7/v3/missing.m4s") == nil)
        // The prefix ends with "/": recording 70 is not recording 7.
        let listed = try await bucket.list(prefix: "media/7/").map(\.key).sorted()
        #expect(listed == ["media/7/v3/720p/index.m3u8", "media/7/v3/poster.jpg"])
        try await bucket.delete(prefix: "media/7")
        #expect(try await bucket.list(prefix: "media/").map(\.key) == ["media/70/v1/poster.jpg"])
    }

    @Test func bigFilesGoUpInPartsAndComeBackWhole() async throws {
        let bucket = try await MotoServer.shared.bucket(partSize: 5 << 20)
        let folder = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        // 11 MiB and a bit: three parts (5, 5 and the rest).
        let words = (0..<((11 << 20) + 12345) / 8).map { _ in UInt64.random(in: 0...UInt64.max) }
        let data = words.withUnsafeBytes { Data($0) }
        let source = folder.appendingPathComponent("lesson.mp4").path
        try data.write(to: URL(fileURLWithPath: source))
        try await bucket.put(file: source, key: "sources/lesson.mp4", contentType: "video/mp4")
        let stored = try #require(try await bucket.head(key: "sources/lesson.mp4"))
        #expect(stored.size == Int64(data.count))
        // A multipart object's ETag is the MD5 of the parts' MD5s with the part count after a dash.
        #expect(stored.etag.hasSuffix("-3\""))
        let copy = folder.appendingPathComponent("copy.mp4").path
        try await bucket.download(key: "sources/lesson.mp4", to: copy)
        #expect(Self.sha(try Data(contentsOf: URL(fileURLWithPath: copy))) == Self.sha(data))
        // A range, as a proxied player asks for it.
        let ranged = try await bucket.stream(key: "sources/lesson.mp4", headers: [("Range", "bytes=100-199")])
        #expect(ranged.status.code == 206)
        var bytes = Data()
        for try await buffer in ranged.body { bytes.append(contentsOf: buffer.readableBytesView) }
        #expect(bytes == data[100..<200])
        // No parts are left behind once the object is complete.
        let uploads = try await bucket.unfinishedUploads()
        #expect(uploads.isEmpty)
    }

    @Test func foldersUploadAndDownloadByPrefix() async throws {
        let bucket = try await MotoServer.shared.bucket()
        let folder = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let version = folder.appendingPathComponent("v9")
        try FileManager.default.createDirectory(at: version.appendingPathComponent("360p"), withIntermediateDirectories: true)
        let files = ["master.m3u8": "#EXTM3U\n", "360p/index.m3u8": "#EXTM3U\n#EXTINF:2,\nseg_00000.m4s\n", "360p/seg_00000.m4s": "segment"]
        for (path, text) in files { try Data(text.utf8).write(to: version.appendingPathComponent(path)) }
        let keys = try await bucket.upload(folder: version.path, to: "media/1/v9")
        #expect(Set(keys) == Set(files.keys.map { "media/1/v9/\($0)" }))
        let back = folder.appendingPathComponent("back")
        try await bucket.download(prefix: "media/1/v9", to: back.path)
        for (path, text) in files {
            #expect(try String(contentsOf: back.appendingPathComponent(path), encoding: .utf8) == text)
        }
    }

    @Test func presignedLinksWorkWithoutCredentials() async throws {
        let bucket = try await MotoServer.shared.bucket()
        try await bucket.put(data: Data("segment bytes".utf8), key: "media/3/v1/360p/seg_00000.m4s")
        let url = bucket.presignedURL(key: "media/3/v1/360p/seg_00000.m4s", expires: 600)
        #expect(url.query?.contains("X-Amz-Signature=") == true)
        let fetched = try runTool("python3", ["-c", "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())", url.absoluteString])
        #expect(fetched == "segment bytes")
    }

    @Test func refusalsCarryTheStoresCode() async throws {
        let location = S3Location(
            endpoint: MotoServer.shared.endpoint, bucket: "no-such-bucket-here", region: "us-east-1",
            credentials: .init(accessKey: "testing", secretKey: "testing"))
        let bucket = S3Bucket(location: location)
        try await eventually(30) { (try? await MotoServer.shared.bucket()) != nil }
        await #expect {
            try await bucket.put(data: Data("x".utf8), key: "a")
        } throws: { error in
            guard case .refused(404, "NoSuchBucket", _) = error as? S3Error else { return false }
            return true
        }
        let closed = S3Bucket(
            location: S3Location(
                endpoint: URL(string: "http://127.0.0.1:1")!, bucket: "x-bucket", region: "us-east-1",
                credentials: .init(accessKey: "a", secretKey: "b")))
        await #expect {
            try await closed.put(data: Data("x".utf8), key: "a")
        } throws: { error in
            guard case .network = error as? S3Error else { return false }
            return true
        }
    }

    /// The presigned URL for fixed credentials and time, made by botocore (the AWS SDK for Python).
    static func botocore(endpoint: String, region: String, pathStyle: Bool, bucket: String, key: String, expires: Int) throws -> String {
        let script = """
            import datetime, sys, boto3, botocore.auth
            from botocore.config import Config
            botocore.auth.get_current_datetime = lambda: datetime.datetime(2026, 11, 26, 8, 0, 0)
            endpoint, region, style, bucket, key, expires = sys.argv[1:7]
            s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region, aws_access_key_id="AKIDEXAMPLE",
                aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                config=Config(signature_version="s3v4", s3={"addressing_style": style}))
            sys.stdout.write(s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=int(expires)))
            """
        return try runTool(
            "python3", ["-c", script, endpoint, region, pathStyle ? "path" : "virtual", bucket, key, "\(expires)"])
    }

    @Test(arguments: [
        ("http://127.0.0.1:9000", "us-east-1", true, "media/12/v3/720p/seg_00001.m4s", 32_400),
        ("https://oss.example.cn", "cn-north-1", false, "objects/ab/ab12 课件.pdf", 600),
        ("https://s3.example.org:8443/store", "cn-northwest-1", true, "packs/7/练习单 (2).pdf", 604_800),
    ])
    func presignedLinksMatchBotocore(endpoint: String, region: String, pathStyle: Bool, key: String, expires: Int) throws {
        let location = S3Location(
            endpoint: URL(string: endpoint)!, bucket: "lessonlink-media", region: region,
            credentials: .init(accessKey: "AKIDEXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"), pathStyle: pathStyle)
        let date = Date(timeIntervalSince1970: 1_795_680_000)  // 2026-11-26 08:00:00 UTC
        let ours = S3Bucket(location: location).presignedURL(key: key, expires: expires, date: date).absoluteString
        let theirs = try Self.botocore(
            endpoint: endpoint, region: region, pathStyle: pathStyle, bucket: "lessonlink-media", key: key, expires: expires)
        #expect(ours == theirs)
    }
}
