import { Rpc, RpcGroup, RpcMiddleware } from "@effect/rpc"
import { Schema } from "effect"
import {
  DeadlineExceeded,
  DependencyUnavailable,
  EmailTaken,
  FailedPrecondition,
  InvalidArgument,
  PermissionDenied,
  RateLimited,
  Unauthenticated,
  UserNotFound,
  WriteOutcomeUnknown
} from "../../domain/errors.js"
import { boundedDecodeMessage } from "../edge/DecodeFailure.js"

/**
 * What a defect says to a client: a payload that did not decode, with its echo of the input bounded (64 characters
 * a value, 1 KiB in all); any other defect only "internal error" (its cause stays in the server's log line).
 */
export const ClientDefect = Schema.transform(Schema.String, Schema.Unknown, {
  strict: true,
  decode: (text) => text,
  encode: (defect) => (typeof defect === "string" ? boundedDecodeMessage(defect) : "internal error")
})

/** A user on the wire: the id is a decimal string (64-bit ids do not fit a JSON number). */
export const UserWire = Schema.Struct({ id: Schema.BigInt, name: Schema.String, email: Schema.String })

/** The use cases' errors, as the same tagged errors at an Effect client. */
export const UsersRpcError = Schema.Union(
  InvalidArgument,
  UserNotFound,
  EmailTaken,
  FailedPrecondition,
  DeadlineExceeded,
  DependencyUnavailable,
  WriteOutcomeUnknown,
  RateLimited,
  Unauthenticated,
  PermissionDenied
)

/**
 * The edge policy on every call (admission, authentication, the request timeout, metrics), as gRPC has it. The
 * server provides it (adapters/rpc/RpcServer.ts); a client needs nothing for it.
 */
export class UsersRpcEdge extends RpcMiddleware.Tag<UsersRpcEdge>()("UsersRpcEdge", {
  wrap: true,
  failure: Schema.Union(RateLimited, Unauthenticated, PermissionDenied, DeadlineExceeded)
}) {}

/** A write's idempotency key (docs/resilience.md): checked by the use case, which names the field when it is bad. */
const IdempotencyKeyField = Schema.optional(Schema.String)

/**
 * The Greeter and user use cases over @effect/rpc (HTTP, POST /rpc, NDJSON): for TypeScript callers that use Effect
 * and want typed errors end to end. The same use cases as gRPC and REST; nothing in the domain changes for it.
 */
export class UsersRpcs extends RpcGroup.make(
  Rpc.make("SayHello", {
    payload: { user_id: Schema.BigInt },
    success: Schema.Struct({ message: Schema.String, user: UserWire }),
    error: UsersRpcError,
    defect: ClientDefect
  }),
  Rpc.make("GetUser", {
    payload: { id: Schema.BigInt },
    success: UserWire,
    error: UsersRpcError,
    defect: ClientDefect
  }),
  Rpc.make("ListUsers", {
    payload: { page_size: Schema.Number, page_token: Schema.String },
    success: Schema.Struct({ users: Schema.Array(UserWire), next_page_token: Schema.String }),
    error: UsersRpcError,
    defect: ClientDefect
  }),
  Rpc.make("CreateUser", {
    payload: { name: Schema.String, email: Schema.String, idempotency_key: IdempotencyKeyField },
    success: UserWire,
    error: UsersRpcError,
    defect: ClientDefect
  }),
  Rpc.make("UpdateUser", {
    payload: {
      id: Schema.BigInt,
      name: Schema.optional(Schema.String),
      email: Schema.optional(Schema.String),
      idempotency_key: IdempotencyKeyField
    },
    success: UserWire,
    error: UsersRpcError,
    defect: ClientDefect
  }),
  Rpc.make("DeleteUser", {
    payload: { id: Schema.BigInt, idempotency_key: IdempotencyKeyField },
    error: UsersRpcError,
    defect: ClientDefect
  })
).middleware(UsersRpcEdge) {}
