import WebServing
import Catalog
import Delivery
import GRDB
import Hummingbird

/// Read endpoints for the web pages' pickers: districts, schools, classrooms, textbook volumes
/// and their lessons, people. Any signed-in person may read the county's structure; people are
/// listed only within a viewer's own scope.
struct DirectoryController {
    let directory: DirectoryStore
    let database: AppDatabase
    let planner: TierPlanner

    var endpoints: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.get("districts", use: districts)
        routes.get("schools", use: schools)
        routes.get("schools/:id/plan", use: plan)
        routes.get("classrooms", use: classrooms)
        routes.get("textbook-volumes", use: volumes)
        routes.get("textbook-volumes/:id", use: volume)
        routes.get("people", use: people)
        return routes
    }

    struct List<Item: Encodable & Sendable>: ResponseEncodable {
        var items: [Item]
    }

    @Sendable func districts(_ request: Request, context: AppRequestContext) async throws -> List<District> {
        _ = try context.requirePerson()
        return List(items: try await directory.districts())
    }

    @Sendable func schools(_ request: Request, context: AppRequestContext) async throws -> List<School> {
        _ = try context.requirePerson()
        let district = try QueryValue.id(request.uri.queryParameters["district"], "district")
        return List(items: try await directory.schools(district: district))
    }

    /// `GET /schools/{id}/plan?classrooms=N&headroom=0.3`: the best tier N classrooms of the
    /// school can stream at once (all of them by default), and whether the school is under-served.
    @Sendable func plan(_ request: Request, context: AppRequestContext) async throws -> TierPlanner.Plan {
        _ = try context.requirePerson()
        guard let id = context.parameters.get("id").flatMap(Int64.init) else { throw APIError.notFound("school") }
        let classrooms = try QueryValue.integer(request.uri.queryParameters["classrooms"], "classrooms", in: 1...10_000)
        var headroom = 0.3
        if let text = request.uri.queryParameters["headroom"] {
            guard let value = Double(String(text)), (0...0.95).contains(value) else {
                throw APIError.badRequest("headroom must be a fraction between 0 and 0.95")
            }
            headroom = value
        }
        guard let plan = try await planner.plan(school: id, classrooms: classrooms, headroom: headroom, database: database) else {
            throw APIError.notFound("school")
        }
        return plan
    }

    @Sendable func classrooms(_ request: Request, context: AppRequestContext) async throws -> List<Classroom> {
        _ = try context.requirePerson()
        let school = try QueryValue.id(request.uri.queryParameters["school"], "school")
        return List(items: try await directory.classrooms(school: school))
    }

    struct VolumeResponse: ResponseEncodable {
        var id: Int64
        var subject: String
        var grade: Int
        var edition: String
        var volume: String
        var title: String
        var lessons: [TextbookLesson]?

        init(_ volume: TextbookVolume, lessons: [TextbookLesson]? = nil) {
            id = volume.id ?? 0
            subject = volume.subject
            grade = volume.grade
            edition = volume.edition
            self.volume = volume.volume
            title = volume.title
            self.lessons = lessons
        }
    }

    @Sendable func volumes(_ request: Request, context: AppRequestContext) async throws -> List<VolumeResponse> {
        _ = try context.requirePerson()
        return List(items: try await directory.volumes().map { VolumeResponse($0) })
    }

    @Sendable func volume(_ request: Request, context: AppRequestContext) async throws -> VolumeResponse {
        _ = try context.requirePerson()
        guard let id = Int64(try context.parameters.require("id")) else { throw APIError.notFound("textbook volume") }
        guard let (volume, lessons) = try await directory.volume(id) else { throw APIError.notFound("textbook volume") }
        return VolumeResponse(volume, lessons: lessons)
    }

    @Sendable func people(_ request: Request, context: AppRequestContext) async throws -> List<PersonResponse> {
        let viewer = Viewer(try context.requirePerson())
        return List(items: try await directory.people(visibleTo: viewer).map(PersonResponse.init))
    }

}

extension TierPlanner.Plan: ResponseEncodable {}
