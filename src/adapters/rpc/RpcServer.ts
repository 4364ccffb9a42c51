import { type Rpc, type RpcGroup, RpcSerialization, RpcServer } from "@effect/rpc"
import { Effect, Layer } from "effect"
import { AuditTrail } from "../../app/Audit.js"
import { Greeter } from "../../app/Greeter.js"
import { Users } from "../../app/Users.js"
import type { User } from "../../domain/User.js"
import { isOperation, type Operation } from "../edge/Operations.js"
import type { EdgePipeline } from "../edge/Pipeline.js"
import { AuditRpcs } from "./AuditRpc.js"
import { UsersRpcEdge, UsersRpcs } from "./UsersRpc.js"

const wire = (user: User) => ({ id: user.id, name: user.name, email: user.email })

// The handlers return the use cases' errors as they are (causes included): the edge pipeline logs them and strips
// the causes before they reach a client (edge/Pipeline.ts, `clientSafe`).
const HandlersLive = UsersRpcs.toLayer(
  Effect.gen(function* () {
    const users = yield* Users
    const greeter = yield* Greeter
    return {
      SayHello: ({ user_id }) =>
        greeter.sayHello(user_id).pipe(Effect.map(({ message, user }) => ({ message, user: wire(user) }))),
      GetUser: ({ id }) => users.get(id).pipe(Effect.map(wire)),
      ListUsers: ({ page_size, page_token }) =>
        users
          .list({ pageSize: page_size, pageToken: page_token })
          .pipe(Effect.map((page) => ({ users: page.users.map(wire), next_page_token: page.nextPageToken }))),
      CreateUser: ({ idempotency_key, ...payload }) =>
        users.create({ ...payload, idempotencyKey: idempotency_key }).pipe(Effect.map(wire)),
      UpdateUser: ({ idempotency_key, ...payload }) =>
        users.update({ ...payload, idempotencyKey: idempotency_key }).pipe(Effect.map(wire)),
      DeleteUser: ({ id, idempotency_key }) => users.delete({ id, idempotencyKey: idempotency_key })
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
        trail
          .forUser(user_id, limit)
          .pipe(Effect.map((entries) => entries.map((e) => ({ user_id: e.userId, action: e.action, at: e.at }))))
    }
  })
)

// Every RPC has a row in the policy table: an RPC without one does not compile.
type WithoutRow = Exclude<Rpc.Tag<RpcGroup.Rpcs<typeof ServiceRpcs>>, Operation>
const everyRpcHasARow: [WithoutRow] extends [never] ? true : WithoutRow = true

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
 * Each call through the edge pipeline, as the operation its tag names, recorded in the gRPC request metrics and
 * logged under `/UsersRpc/<name>`. `transport` names the headers the HTTP server sets from the transport.
 */
const EdgeLive = (pipeline: EdgePipeline, transport: TransportHeaders) =>
  Layer.succeed(UsersRpcEdge, ({ rpc, headers, next }) => {
    const http = transport.httpCall(headers[transport.call])
    return pipeline.guard(
      {
        operation: everyRpcHasARow && isOperation(rpc._tag) ? rpc._tag : undefined,
        caller: headers[transport.peer] ?? "unknown",
        // Never the message's own headers: identity comes from the transport.
        authorization: headers[transport.authorization] || undefined,
        onSubject: (verified) => {
          if (http !== undefined) http.subject = verified
        },
        recorded: { method: `/UsersRpc/${rpc._tag}`, requestId: http?.requestId }
      },
      next
    )
  })

/**
 * The RPC server as an HttpApp for POST /rpc. Each call runs in a server span continuing the client's trace (the
 * client sends its span with every request).
 */
export const rpcApp = (pipeline: EdgePipeline, transport: TransportHeaders) =>
  RpcServer.toHttpApp(ServiceRpcs, { spanPrefix: "UsersRpc" }).pipe(
    Effect.provide(
      Layer.mergeAll(HandlersLive, AuditHandlersLive, EdgeLive(pipeline, transport), RpcSerialization.layerNdjson)
    )
  )
