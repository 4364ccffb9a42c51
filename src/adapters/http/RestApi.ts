import {
  HttpApi,
  HttpApiBuilder,
  HttpApiEndpoint,
  HttpApiError,
  HttpApiGroup,
  HttpApiSchema,
  HttpApiSwagger,
  HttpServerError,
  HttpServerResponse,
  OpenApi
} from "@effect/platform"
import { Cause, Effect, Layer, Option, Schema } from "effect"
import { Users } from "../../app/Users.js"
import { type AppError, InvalidArgument } from "../../domain/errors.js"
import type { User } from "../../domain/User.js"
import { VERSION } from "../config/Version.js"
import { bounded, invalidArgumentOf } from "../edge/DecodeFailure.js"
import { statusOfError } from "../edge/ErrorStatus.js"
import { isOperation, OPERATIONS, type Operation } from "../edge/Operations.js"
import { pathOf } from "./BodyGate.js"

// REST/JSON for callers that speak neither gRPC nor Effect. Errors are JSON {"_tag": ..., "message": ...} with the
// HTTP status of the one table (adapters/edge/ErrorStatus.ts).
const problem = <const Tag extends string>(tag: Tag, status: number) =>
  Schema.TaggedStruct(tag, { message: Schema.String }).annotations(HttpApiSchema.annotations({ status }))
const BadRequest = problem("BadRequest", 400)
const Unauthorized = problem("Unauthorized", 401)
const Forbidden = problem("Forbidden", 403)
const NotFound = problem("NotFound", 404)
const Conflict = problem("Conflict", 409)
const TooManyRequests = problem("TooManyRequests", 429)
const BadGateway = problem("BadGateway", 502)
const ServiceUnavailable = problem("ServiceUnavailable", 503)
const GatewayTimeout = problem("GatewayTimeout", 504)
type Problem = Schema.Schema.Type<
  | typeof BadRequest
  | typeof Unauthorized
  | typeof Forbidden
  | typeof NotFound
  | typeof Conflict
  | typeof TooManyRequests
  | typeof BadGateway
  | typeof ServiceUnavailable
  | typeof GatewayTimeout
>

/** A typed error as the JSON problem with its HTTP status (the status comes from the one table). */
export const toProblem = (error: AppError): Problem => {
  const { http, message } = statusOfError(error)
  switch (http) {
    case 400:
      return { _tag: "BadRequest", message }
    case 401:
      return { _tag: "Unauthorized", message }
    case 403:
      return { _tag: "Forbidden", message }
    case 404:
      return { _tag: "NotFound", message }
    case 409:
      return { _tag: "Conflict", message }
    case 429:
      return { _tag: "TooManyRequests", message }
    case 502:
      return { _tag: "BadGateway", message }
    case 504:
      return { _tag: "GatewayTimeout", message }
    default:
      return { _tag: "ServiceUnavailable", message }
  }
}

const UserJson = Schema.Struct({ id: Schema.String, name: Schema.String, email: Schema.String })
const toJson = (user: User) => ({ id: String(user.id), name: user.name, email: user.email })
const IdPath = Schema.Struct({ id: Schema.String })
/** A request body with a field this API does not know is refused naming it (as proto3's JSON mapping recommends). */
const strict = { parseOptions: { onExcessProperty: "error" } } as const
/** A write's `Idempotency-Key` header (docs/resilience.md): a retry with the same key is applied at most once. */
const WriteHeaders = Schema.Struct({ "idempotency-key": Schema.optional(Schema.String) })

/**
 * What the OpenAPI document says of each operation beyond its schemas: a summary, who may call it with
 * authentication on (docs/security.md; a write also needs the write scope, from the policy table), and the statuses
 * it can answer (the group declares every problem the handlers can map to; each operation lists only its own, plus
 * what the edge adds: 413 and 415 from the body gate, 500 for a defect).
 */
const DESCRIBED: Record<
  string,
  { readonly summary: string; readonly access: string; readonly statuses: ReadonlyArray<string> }
> = {
  getUser: {
    summary: "Get a user",
    access: "the user's own token (subject = id), or scope users:read",
    statuses: ["200", "400", "401", "403", "404", "429", "500", "503", "504"]
  },
  listUsers: {
    summary: "List users, a page at a time",
    access: "scope users:read",
    statuses: ["200", "400", "401", "403", "429", "500", "503", "504"]
  },
  createUser: {
    summary: "Create a user",
    access: "",
    statuses: ["201", "400", "401", "403", "409", "413", "415", "429", "500", "502", "503", "504"]
  },
  updateUser: {
    summary: "Change a user's name or email",
    access: "the user's own token or scope users:admin",
    statuses: ["200", "400", "401", "403", "404", "409", "413", "415", "429", "500", "502", "503", "504"]
  },
  deleteUser: {
    summary: "Delete a user",
    access: "the user's own token or scope users:admin",
    statuses: ["204", "400", "401", "403", "404", "429", "500", "502", "503", "504"]
  }
}

/** An endpoint's row in the policy table: its name, capitalised (getUser: GetUser). */
const operationOf = (endpoint: string): Operation => {
  const operation = `${endpoint.charAt(0).toUpperCase()}${endpoint.slice(1)}`
  if (!isOperation(operation)) throw new Error(`REST endpoint ${endpoint} has no row in adapters/edge/Operations.ts`)
  return operation
}

const problemSchema = {
  type: "object",
  required: ["_tag", "message"],
  properties: { _tag: { type: "string" }, message: { type: "string" } },
  additionalProperties: false
}
const EDGE_PROBLEMS: Record<string, string> = {
  "413": "The body is larger than HTTP_MAX_BODY_BYTES (PayloadTooLarge)",
  "415": "The body is not application/json (UnsupportedMediaType)",
  "500": "A defect in the service (logged; the body never holds its cause)"
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null

/** The generated document, made truthful: name, version, servers, the bearer scheme, summaries, real statuses. */
const describe = (spec: Record<string, unknown>): Record<string, unknown> => {
  const paths = isRecord(spec.paths) ? spec.paths : {}
  for (const item of Object.values(paths)) {
    if (!isRecord(item)) continue
    for (const operation of Object.values(item)) {
      if (!isRecord(operation) || typeof operation.operationId !== "string") continue
      const endpoint = operation.operationId.replace(/^users\./, "")
      const described = DESCRIBED[endpoint]
      if (described === undefined) continue
      operation.summary = described.summary
      const access = [
        ...(OPERATIONS[operationOf(endpoint)].writes
          ? ["the write scope (AUTH_WRITE_SCOPE, users:write by default)"]
          : []),
        ...(described.access === "" ? [] : [described.access])
      ]
      operation.description = `With authentication on: ${access.join(", and ")}.`
      operation.security = [{ bearer: [] }]
      const responses = isRecord(operation.responses) ? operation.responses : {}
      for (const status of Object.keys(responses)) if (!described.statuses.includes(status)) delete responses[status]
      for (const [status, description] of Object.entries(EDGE_PROBLEMS))
        if (described.statuses.includes(status))
          responses[status] = { description, content: { "application/json": { schema: problemSchema } } }
      operation.responses = responses
    }
  }
  const components = isRecord(spec.components) ? spec.components : {}
  return {
    ...spec,
    info: {
      title: "effect-microservice",
      version: VERSION,
      description:
        "The user API over REST/JSON. The same use cases are served over gRPC (:5000) and @effect/rpc (/rpc)."
    },
    // The server that serves this document (HTTP_SERVER_URL; :4000 with npm start).
    servers: [{ url: "/", description: "this service's HTTP port" }],
    tags: [
      { name: "users", description: "The users of the Go boilerplate's schema: read, list, create, change, delete." }
    ],
    components: {
      ...components,
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          bearerFormat: "JWT",
          description: "Required when AUTH_JWT_SECRET or AUTH_JWKS_FILE is set (docs/security.md); ignored otherwise."
        }
      }
    }
  }
}

export class UsersRestApi extends HttpApi.make("users-rest")
  .add(
    HttpApiGroup.make("users")
      .addError(BadRequest)
      .addError(Unauthorized)
      .addError(Forbidden)
      .addError(NotFound)
      .addError(Conflict)
      .addError(TooManyRequests)
      .addError(BadGateway)
      .addError(ServiceUnavailable)
      .addError(GatewayTimeout)
      .add(HttpApiEndpoint.get("getUser", "/v1/users/:id").setPath(IdPath).addSuccess(UserJson))
      .add(
        HttpApiEndpoint.get("listUsers", "/v1/users")
          .setUrlParams(
            Schema.Struct({
              page_size: Schema.optional(Schema.NumberFromString),
              page_token: Schema.optional(Schema.String)
            })
          )
          .addSuccess(Schema.Struct({ users: Schema.Array(UserJson), next_page_token: Schema.String }))
      )
      .add(
        HttpApiEndpoint.post("createUser", "/v1/users")
          .setHeaders(WriteHeaders)
          .setPayload(Schema.Struct({ name: Schema.String, email: Schema.String }).annotations(strict))
          .addSuccess(UserJson, { status: 201 })
      )
      .add(
        HttpApiEndpoint.patch("updateUser", "/v1/users/:id")
          .setPath(IdPath)
          .setHeaders(WriteHeaders)
          .setPayload(
            Schema.Struct({ name: Schema.optional(Schema.String), email: Schema.optional(Schema.String) }).annotations(
              strict
            )
          )
          .addSuccess(UserJson)
      )
      .add(
        HttpApiEndpoint.del("deleteUser", "/v1/users/:id")
          .setPath(IdPath)
          .setHeaders(WriteHeaders)
          .addSuccess(HttpApiSchema.NoContent)
      )
  )
  .annotate(OpenApi.Transform, describe) {}

/** A path id as an int64: digits only (the use case then checks the range and names the field). */
const parseId = (text: string): Effect.Effect<bigint, InvalidArgument> =>
  /^-?\d{1,20}$/.test(text)
    ? Effect.succeed(BigInt(text))
    : Effect.fail(new InvalidArgument({ field: "id", reason: "must be a positive 64-bit integer" }))

const UsersRestLive = HttpApiBuilder.group(UsersRestApi, "users", (handlers) =>
  Effect.map(Users, (users) =>
    handlers
      .handle("getUser", ({ path }) =>
        parseId(path.id).pipe(Effect.flatMap(users.get), Effect.map(toJson), Effect.mapError(toProblem))
      )
      .handle("listUsers", ({ urlParams }) =>
        users.list({ pageSize: urlParams.page_size ?? 0, pageToken: urlParams.page_token ?? "" }).pipe(
          Effect.map((page) => ({ users: page.users.map(toJson), next_page_token: page.nextPageToken })),
          Effect.mapError(toProblem)
        )
      )
      .handle("createUser", ({ headers, payload }) =>
        users
          .create({ ...payload, idempotencyKey: headers["idempotency-key"] })
          .pipe(Effect.map(toJson), Effect.mapError(toProblem))
      )
      .handle("updateUser", ({ path, headers, payload }) =>
        parseId(path.id).pipe(
          Effect.flatMap((id) =>
            users.update({ id, name: payload.name, email: payload.email, idempotencyKey: headers["idempotency-key"] })
          ),
          Effect.map(toJson),
          Effect.mapError(toProblem)
        )
      )
      .handle("deleteUser", ({ path, headers }) =>
        parseId(path.id).pipe(
          Effect.flatMap((id) => users.delete({ id, idempotencyKey: headers["idempotency-key"] })),
          Effect.mapError(toProblem)
        )
      )
  )
)

/** The problems of a path no route serves, and of a method a route does not take: the same on every router. */
export const noRoute = (path: string) => ({ _tag: "NotFound", message: `no route for ${bounded(path)}` }) as const
export const methodNotAllowed = (method: string, path: string) =>
  ({ _tag: "MethodNotAllowed", message: `${method} is not allowed on ${bounded(path)}` }) as const

/** Each route's path pattern, method and operation, from the API's own declaration. */
const ROUTES = Object.values(UsersRestApi.groups)
  .flatMap((group) => Object.values(group.endpoints))
  .map((endpoint) => ({
    method: endpoint.method,
    pattern: new RegExp(`^${endpoint.path.replace(/:[A-Za-z_]+/g, "[^/]+")}$`),
    operation: operationOf(endpoint.name)
  }))

/** The operation a REST request names, for the edge pipeline; undefined when no route serves it (404 or 405). */
export const restOperationOf = (method: string, url: string): Operation | undefined => {
  const path = pathOf(url)
  return ROUTES.find((route) => route.method === method && route.pattern.test(path))?.operation
}

const problemResponse = (status: number, body: { readonly _tag: string; readonly message: string }, allow?: string) =>
  HttpServerResponse.unsafeJson(body, { status, headers: allow === undefined ? {} : { allow } })

/**
 * What the router and the request decoding fail with, in the API's one error shape: an unknown path is 404, a known
 * path with another method 405 with Allow, a body that is not JSON or does not fit the request 400 naming the field
 * (echoing at most 64 characters). Anything else is a real defect and stays one (logged, 500).
 */
const contractErrors = (error: unknown): Option.Option<HttpServerResponse.HttpServerResponse> => {
  if (error instanceof HttpApiError.HttpApiDecodeError)
    return Option.some(problemResponse(400, toProblem(invalidArgumentOf(error.issues))))
  if (error instanceof HttpServerError.RequestError && error.reason === "Decode")
    return Option.some(
      problemResponse(400, toProblem(new InvalidArgument({ field: "body", reason: "is not valid JSON" })))
    )
  if (error instanceof HttpServerError.RouteNotFound) {
    const path = pathOf(error.request.url)
    const allowed = ROUTES.filter((route) => route.pattern.test(path)).map((route) => route.method)
    // A path the router refused although its method is declared for it (a parameter too long to route) is unknown.
    return Option.some(
      allowed.length === 0 || allowed.some((method) => method === error.request.method)
        ? problemResponse(404, noRoute(path))
        : problemResponse(405, methodNotAllowed(error.request.method, path), allowed.join(", "))
    )
  }
  return Option.none()
}

const RestContractLive = HttpApiBuilder.middleware((app) =>
  Effect.catchAllCause(app, (cause) =>
    // The body is parsed under Effect.orDie: a body that is not JSON arrives as a defect.
    Option.match(
      Option.flatMap(
        Option.orElse(Cause.failureOption(cause), () => Cause.dieOption(cause)),
        contractErrors
      ),
      {
        onNone: () => Effect.failCause(cause),
        onSome: Effect.succeed
      }
    )
  )
)

/** The OpenAPI document of the REST API (served at /openapi.json). */
export const openApiDocument = OpenApi.fromApi(UsersRestApi)

/** The REST API and its documentation page (/docs) as an HttpApp, to mount beside the probes. */
export const restApp = HttpApiBuilder.httpApp.pipe(
  Effect.provide(
    Layer.mergeAll(HttpApiSwagger.layer({ path: "/docs" }), RestContractLive, HttpApiBuilder.Middleware.layer).pipe(
      Layer.provideMerge(HttpApiBuilder.api(UsersRestApi).pipe(Layer.provide(UsersRestLive))),
      Layer.provideMerge(HttpApiBuilder.Router.Live)
    )
  )
)
