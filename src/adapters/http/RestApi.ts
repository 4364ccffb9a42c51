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
import { bounded, invalidArgumentOf } from "../edge/DecodeFailure.js"
import { statusOfError } from "../edge/ErrorStatus.js"
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

export class UsersRestApi extends HttpApi.make("users-rest").add(
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
) {}

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

/** Each route's path pattern and methods, from the API's own declaration (for 405's Allow). */
const ROUTES = Object.values(UsersRestApi.groups)
  .flatMap((group) => Object.values(group.endpoints))
  .map((endpoint) => ({
    method: endpoint.method,
    pattern: new RegExp(`^${endpoint.path.replace(/:[A-Za-z_]+/g, "[^/]+")}$`)
  }))

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
        ? problemResponse(404, { _tag: "NotFound", message: `no route for ${bounded(path)}` })
        : problemResponse(
            405,
            { _tag: "MethodNotAllowed", message: `${error.request.method} is not allowed on ${bounded(path)}` },
            allowed.join(", ")
          )
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
