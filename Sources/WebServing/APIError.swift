import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Every error the HTTP API returns: a status and a JSON body `{"error": {"code", "message"}}`.
/// `code` is stable for programs; `message` is for people.
public struct APIError: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    /// Extra headers (tus clients need `Tus-Resumable` on errors too; 429 carries `Retry-After`).
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    struct Body: Encodable {
        struct Detail: Encodable {
            var code: String
            var message: String
        }
        var error: Detail
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let data = try JSONEncoder().encode(Body(error: .init(code: code, message: message)))
        var headers = self.headers
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    public static let unauthenticated = APIError(.unauthorized, "unauthenticated", "sign in first: send 'Authorization: Bearer <token>'")
    public static let forbidden = APIError(.forbidden, "forbidden", "your role does not allow this")

    public static func notFound(_ what: String) -> APIError { APIError(.notFound, "not_found", "\(what) not found") }
    public static func badRequest(_ message: String, code: String = "bad_request") -> APIError {
        APIError(.badRequest, code, message)
    }
}

/// Turns whatever a handler throws into the JSON error shape, so no route answers with a bare
/// status or an HTML page, and nothing internal (SQL, file paths) reaches a client.
public struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError {
            throw APIError(error.status, Self.code(for: error.status), error.body ?? error.status.reasonPhrase)
        } catch let error as DecodingError {
            throw APIError.badRequest("the request body is not valid: \(Self.describe(error))", code: "invalid_body")
        } catch let error as CancellationError {
            throw error
        } catch is NIOTooManyBytesError {
            // A JSON body past the context's limit (Hummingbird collects up to maxUploadSize).
            throw APIError(.contentTooLarge, "too_large", "the request body is larger than this endpoint accepts")
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(String(reflecting: error))", "uri": "\(request.uri)"])
            throw APIError(.internalServerError, "internal", "the server could not complete this request")
        }
    }

    static func code(for status: HTTPResponse.Status) -> String {
        switch status {
        case .notFound: "not_found"
        case .methodNotAllowed: "method_not_allowed"
        case .contentTooLarge: "too_large"
        case .unauthorized: "unauthenticated"
        case .forbidden: "forbidden"
        default: status.code < 500 ? "bad_request" : "internal"
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map(\.stringValue).joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, _): return "missing field '\(key.stringValue)'"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "field '\(path(context))' has the wrong type"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "malformed JSON" : "field '\(path(context))' is invalid"
        @unknown default: return "malformed JSON"
        }
    }
}

extension HTTPResponse.Status {
    /// RFC 4918 §11.5: the server cannot store what the request needs.
    public static let insufficientStorage = HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage")
}

extension Request {
    /// Decodes a JSON body; anything malformed is a 400 `invalid_body` saying which field.
    public func decodeJSON<T: Decodable>(as type: T.Type, context: some RequestContext) async throws -> T {
        do {
            return try await decode(as: type, context: context)
        } catch let error as DecodingError {
            throw APIError.badRequest("the request body is not valid: \(ErrorMiddleware<BasicRequestContext>.describe(error))", code: "invalid_body")
        } catch let error as HTTPError where error.status == .badRequest {
            throw APIError.badRequest("the request body is not valid JSON of the expected shape", code: "invalid_body")
        }
    }
}

/// Query-string values, checked the way the API document states them.
public enum QueryValue {
    /// A whole number within `range`, or nil when absent.
    public static func integer(_ value: Substring?, _ name: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let value else { return nil }
        guard let number = Int(value), range.contains(number) else {
            throw APIError.badRequest("\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    /// `true` or `false`, or nil when absent.
    public static func boolean(_ value: Substring?, _ name: String) throws -> Bool? {
        switch value {
        case nil: return nil
        case "true": return true
        case "false": return false
        default: throw APIError.badRequest("\(name) must be true or false")
        }
    }

    /// A row id (a positive whole number), or nil when absent.
    public static func id(_ value: Substring?, _ name: String) throws -> Int64? {
        guard let value else { return nil }
        guard let number = Int64(value), number > 0 else { throw APIError.badRequest("\(name) must be an id (a positive whole number)") }
        return number
    }
}
