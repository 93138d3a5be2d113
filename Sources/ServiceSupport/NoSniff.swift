import Hummingbird

/// Every reply says its content type is to be believed (`X-Content-Type-Options: nosniff`): a
/// browser must not run a JSON reply that carries wire text as a page or a script. Both
/// programs' endpoints use it.
public struct NoSniff<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        var response = try await next(request, context)
        response.headers[.xContentTypeOptions] = "nosniff"
        return response
    }
}
