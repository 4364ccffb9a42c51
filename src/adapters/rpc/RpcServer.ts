import { RpcSerialization, RpcServer } from "@effect/rpc"
import { Effect, Exit, Layer } from "effect"
import { AuditTrail } from "../../app/Audit.js"
import { Greeter } from "../../app/Greeter.js"
import { Users } from "../../app/Users.js"
import { describeError } from "../../domain/describeError.js"
import { type AppError, DependencyUnavailable, WriteOutcomeUnknown } from "../../domain/errors.js"
import type { User } from "../../domain/User.js"
import type { RequestMetrics } from "../../ports/RequestMetrics.js"
import type { EdgeGuard } from "../edge/EdgeGuard.js"
import { grpcCodeName, outcomeOfCause } from "../edge/ErrorStatus.js"
import { AuditRpcs } from "./AuditRpc.js"
import { RPC_WRITES, UsersRpcEdge, UsersRpcs } from "./UsersRpc.js"

const wire = (user: User) => ({ id: user.id, name: user.name, email: user.email })

// What a dependency failure says to clients: which dependency and operation, never the cause (that stays in logs).
const clientSafe = (error: AppError): AppError =>
  error._tag === "DependencyUnavailable"
    ? new DependencyUnavailable({ dependency: error.dependency, operation: error.operation })
    : error._tag === "WriteOutcomeUnknown"
      ? new WriteOutcomeUnknown({ operation: error.operation })
      : error

const HandlersLive = UsersRpcs.toLayer(
  Effect.gen(function* () {
    const users = yield* Users
    const greeter = yield* Greeter
    return {
      SayHello: ({ user_id }) =>
        greeter.sayHello(user_id).pipe(
          Effect.map(({ message, user }) => ({ message, user: wire(user) })),
          Effect.mapError(clientSafe)
        ),
      GetUser: ({ id }) => users.get(id).pipe(Effect.map(wire), Effect.mapError(clientSafe)),
      ListUsers: ({ page_size, page_token }) =>
        users.list({ pageSize: page_size, pageToken: page_token }).pipe(
          Effect.map((page) => ({ users: page.users.map(wire), next_page_token: page.nextPageToken })),
          Effect.mapError(clientSafe)
        ),
      CreateUser: ({ idempotency_key, ...payload }) =>
        users
          .create({ ...payload, idempotencyKey: idempotency_key })
          .pipe(Effect.map(wire), Effect.mapError(clientSafe)),
      UpdateUser: ({ idempotency_key, ...payload }) =>
        users
          .update({ ...payload, idempotencyKey: idempotency_key })
          .pipe(Effect.map(wire), Effect.mapError(clientSafe)),
      DeleteUser: ({ id, idempotency_key }) =>
        users.delete({ id, idempotencyKey: idempotency_key }).pipe(Effect.mapError(clientSafe))
    }
  })
)

/** Every RPC the service serves: the user calls and the audit log example's. */
export const ServiceRpcs = UsersRpcs.merge(AuditRpcs)

const AuditHandlersLive = AuditRpcs.toLayer(
  Effect.gen(function* () {
    const trail = yield* AuditTrail
    return {
      ListAuditEntries: ({ user_id, limit }) =>
        trail.forUser(user_id, limit).pipe(
          Effect.map((entries) => entries.map((e) => ({ user_id: e.userId, action: e.action, at: e.at }))),
          Effect.mapError(clientSafe)
        )
    }
  })
)

/**
 * The names of the headers the HTTP server sets from the transport (names no client can guess, so no message can
 * set them): the peer's address, and the HTTP request's Authorization header.
 */
export interface TransportHeaders {
  readonly peer: string
  readonly authorization: string
  /** The header holding the key of the HTTP request the call came in, and that request's record by its key. */
  readonly call: string
  readonly httpCall: (
    key: string | undefined
  ) => { readonly requestId: string; subject: string | undefined } | undefined
}

/**
 * Each call through the edge guard (admission, authentication with the write scope for writes, REQUEST_TIMEOUT),
 * recorded in the gRPC request metrics under `/UsersRpc/<name>` with the status code gRPC would answer.
 * `transport` names the headers the HTTP server sets from the transport (names clients cannot guess).
 */
const EdgeLive = (guard: EdgeGuard, transport: TransportHeaders, metrics: RequestMetrics["Type"]) =>
  Layer.succeed(UsersRpcEdge, ({ rpc, headers, next }) => {
    const started = performance.now()
    let subject: string | undefined
    const recorded = metrics.rpcStarted(`/UsersRpc/${rpc._tag}`)
    const http = transport.httpCall(headers[transport.call])
    return guard(
      {
        caller: headers[transport.peer] ?? "unknown",
        // Never the message's own headers: identity comes from the transport.
        authorization: headers[transport.authorization] || undefined,
        write: RPC_WRITES.has(rpc._tag),
        onSubject: (verified) => {
          subject = verified
          if (http !== undefined) http.subject = verified
        }
      },
      next
    ).pipe(
      Effect.onExit((exit) => {
        const outcome = Exit.isSuccess(exit) ? undefined : outcomeOfCause(exit.cause)
        const code = outcome === undefined ? "OK" : grpcCodeName(outcome.status.grpc)
        recorded(code)
        // One line per call, as on gRPC (never the payload: it may hold personal data). A failure names its real
        // cause (a dependency's error included), never a stack.
        return Effect.logInfo(code === "OK" ? "RPC request completed" : "RPC request failed").pipe(
          Effect.annotateLogs({
            code,
            method: `/UsersRpc/${rpc._tag}`,
            duration_ms: Math.round((performance.now() - started) * 100) / 100,
            ...(http === undefined ? {} : { request_id: http.requestId }),
            caller: headers[transport.peer] ?? "unknown",
            ...(outcome?._tag === "Failure" ? { error: describeError(outcome.error) } : {}),
            ...(subject === undefined ? {} : { subject })
          })
        )
      })
    )
  })

/**
 * The RPC server as an HttpApp for POST /rpc. Each call runs in a server span continuing the client's trace (the
 * client sends its span with every request).
 */
export const rpcApp = (guard: EdgeGuard, transport: TransportHeaders, metrics: RequestMetrics["Type"]) =>
  RpcServer.toHttpApp(ServiceRpcs, { spanPrefix: "UsersRpc" }).pipe(
    Effect.provide(
      Layer.mergeAll(HandlersLive, AuditHandlersLive, EdgeLive(guard, transport, metrics), RpcSerialization.layerNdjson)
    )
  )
