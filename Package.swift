// swift-tools-version: 6.2
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

// Catalog and Server expose GRDB and Hummingbird types on purpose (records, the application).
let exposing: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "LessonLink",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "lessonlink", targets: ["lessonlink"]),
        .executable(name: "lessonlink-mirror", targets: ["lessonlink-mirror"]),
        .library(name: "Media", targets: ["Media"]),
        .library(name: "Catalog", targets: ["Catalog"]),
        .library(name: "Server", targets: ["Server"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0", traits: ["YAML", "CommandLineArguments"]),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: [
        // FFmpeg's C libraries, found through pkg-config; the module map links each library.
        .systemLibrary(
            name: "CFFmpeg",
            pkgConfig: "libavformat",
            providers: [
                .apt([
                    "pkg-config", "libavformat-dev", "libavcodec-dev", "libavutil-dev", "libswscale-dev",
                    "libswresample-dev", "libavfilter-dev",
                ])
            ]
        ),
        // libqrencode: the QR code on a printed certificate, pointing at its verification page.
        .systemLibrary(name: "CQREncode", pkgConfig: "libqrencode", providers: [.apt(["libqrencode-dev"])]),
        // Linux calls Glibc's module does not import (they need _GNU_SOURCE).
        .systemLibrary(name: "CLinux"),
        // HLS file names and playlist text (RFC 8216): no media library, so the lean mirror can use it.
        .target(name: "HLS", swiftSettings: strict),
        .target(
            name: "Media",
            dependencies: [
                "CFFmpeg",
                "HLS",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Catalog",
            dependencies: [
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: exposing
        ),
        // Verifiable credentials: JSON Canonicalization (RFC 8785), multibase, did:key, and
        // Data Integrity proofs with eddsa-jcs-2022. No database, no HTTP: verifies offline.
        .target(
            name: "Credentials",
            dependencies: ["CLinux", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: exposing
        ),
        // Review by the teaching-research offices: the review's rules and the rubric.
        .target(
            name: "Review",
            dependencies: [
                "Catalog", "Credentials", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: exposing
        ),
        // Orders (点单 → 派单 → 接单 → 评单): the rules, the store, the county's statistics.
        .target(
            name: "Orders",
            dependencies: [
                "Catalog", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: exposing
        ),
        // S3-compatible object storage: Signature V4 on swift-crypto (no SDK).
        .target(
            name: "ObjectStorage",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // A transcoding runner on another machine: jobs over HTTP from a LessonLink server.
        .target(
            name: "RemoteRunner",
            dependencies: [
                "Transcoding", "Media",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ],
            swiftSettings: exposing
        ),
        // Backups of a storage root: the database's online snapshot, incremental hard-linked copies
        // of the media, a SHA-256 manifest; verify, restore, retention.
        .target(
            name: "Backup",
            dependencies: [
                "Catalog", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        // Live ingest: the RTMP protocol's publishing side, as a pure state machine and a listener.
        .target(
            name: "Live",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Synchronized sessions (同步课堂): the clock, scheduling, attendance, the live fan-out.
        .target(
            name: "Sessions",
            dependencies: [
                "Catalog",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: exposing
        ),
        .target(
            name: "Transcoding",
            dependencies: [
                "Catalog",
                "Media",
                "ObjectStorage",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: exposing
        ),
        // Uploads: tus state, the upload store, processing (checksum, duplicates, probe child,
        // queueing) and the sweep of abandoned uploads. No HTTP types.
        .target(
            name: "Ingest",
            dependencies: [
                "CLinux",
                "Catalog",
                "Media",
                "Transcoding",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: exposing
        ),
        .target(
            name: "Delivery",
            dependencies: [
                "Catalog",
                "HLS",
                "Media",
                "PackSync",
                "ObjectStorage",
                "Transcoding",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: exposing
        ),
        // Pack files without a database or FFmpeg: the object store, manifests, and the school
        // mirror, so the mirror's own executable stays small on a school's machine.
        .target(
            name: "PackSync",
            dependencies: [
                "CLinux",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: exposing
        ),
        // What any LessonLink web server needs, without a database or FFmpeg: JSON errors, files
        // over HTTP (Range, validators, gzip, a hot-file cache), the media file rules, the web assets.
        .target(
            name: "WebServing",
            dependencies: [
                "CLinux",
                "HLS",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "_NIOFileSystem", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            resources: [
                .embedInCode("Resources/web/app.js"),
                .embedInCode("Resources/web/player.js"),
                .embedInCode("Resources/web/mirror.js"),
                .embedInCode("Resources/web/packs.js"),
                .embedInCode("Resources/web/sessions.js"),
                .embedInCode("Resources/web/review.js"),
                .embedInCode("Resources/web/orders.js"),
                .embedInCode("Resources/web/style.css"),
            ],
            swiftSettings: exposing
        ),
        // A school mirror's LAN site: packs, the player, downloads, read-only.
        .target(
            name: "MirrorSite",
            dependencies: [
                "HLS",
                "PackSync",
                "WebServing",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: exposing
        ),
        .executableTarget(
            name: "lessonlink-mirror",
            dependencies: [
                "MirrorSite", "PackSync", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Server",
            dependencies: [
                "Backup",
                "ObjectStorage",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                "CLinux",
                "CQREncode",
                "Catalog",
                "Credentials",
                "Delivery",
                "HLS",
                "Live",
                "Orders",
                "Ingest",
                "MirrorSite",
                "PackSync",
                "Review",
                "Sessions",
                "Transcoding",
                "Media",
                "WebServing",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "_NIOFileSystem", package: "swift-nio"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Yams", package: "Yams"),
            ],
            resources: [.embedInCode("Resources/openapi.yaml")],
            swiftSettings: exposing
        ),
        .executableTarget(
            name: "lessonlink",
            dependencies: [
                "Backup",
                "RemoteRunner",
                "Media",
                "Catalog",
                "Credentials",
                "MirrorSite",
                "Review",
                "Server",
                "Sessions",
                "Transcoding",
                "Delivery",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: exposing
        ),
        // What every test target shares: built binaries, one process runner, scratch folders.
        .target(name: "TestSupport", dependencies: ["ObjectStorage"], path: "Tests/TestSupport", swiftSettings: strict),
        .testTarget(
            name: "MediaTests",
            dependencies: ["Media", "HLS", "TestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "CredentialsTests",
            dependencies: ["Credentials", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "LiveTests",
            dependencies: ["Live", "TestSupport", .product(name: "NIOCore", package: "swift-nio"), .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ObjectStorageTests",
            dependencies: ["ObjectStorage", "TestSupport", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "BackupTests",
            dependencies: ["Backup", "Catalog", "TestSupport", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "OrdersTests",
            dependencies: ["Orders", "Catalog", "TestSupport", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ReviewTests",
            dependencies: ["Review", "TestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SessionsTests",
            dependencies: ["Sessions", "Catalog", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "CatalogTests",
            dependencies: ["Catalog", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: exposing
        ),
        .testTarget(
            name: "TranscodingTests",
            dependencies: ["Transcoding", "Catalog", "Media", "TestSupport", "ObjectStorage", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: exposing
        ),
        .testTarget(
            name: "DeliveryTests",
            dependencies: ["Delivery", "PackSync", "Media", "HLS", "WebServing", "TestSupport"],
            swiftSettings: exposing
        ),
        .testTarget(
            name: "PackSyncTests",
            dependencies: ["PackSync", "TestSupport"],
            swiftSettings: exposing
        ),
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "Server", "Catalog", "Credentials", "Ingest", "Media", "Delivery", "Orders", "PackSync", "Review", "WebServing",
                "TestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: exposing
        ),
    ],
    swiftLanguageModes: [.v6]
)
