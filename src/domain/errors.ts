import { Schema } from "effect"

/** A request field failed validation. `field` is the wire name (for example `user_id`). */
export class InvalidArgument extends Schema.TaggedError<InvalidArgument>()("InvalidArgument", {
  field: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid ${this.field}: ${this.reason}`
  }
}

export class UserNotFound extends Schema.TaggedError<UserNotFound>()("UserNotFound", {
  id: Schema.BigInt
}) {
  override get message(): string {
    return `user ${this.id} not found`
  }
}

export class EmailTaken extends Schema.TaggedError<EmailTaken>()("EmailTaken", {
  email: Schema.String
}) {
  override get message(): string {
    return `email ${this.email} is already taken`
  }
}

/**
 * The request is valid but the stored data refuses it: a constraint other than the unique email (a foreign key,
 * a check). Retrying the same request will not help until the state changes.
 */
export class FailedPrecondition extends Schema.TaggedError<FailedPrecondition>()("FailedPrecondition", {
  reason: Schema.String
}) {
  override get message(): string {
    return `failed precondition: ${this.reason}`
  }
}

/** The request's time budget (the client's deadline) ran out. */
export class DeadlineExceeded extends Schema.TaggedError<DeadlineExceeded>()("DeadlineExceeded", {
  timeoutMs: Schema.Number
}) {
  override get message(): string {
    return `deadline exceeded after ${this.timeoutMs} ms`
  }
}

/**
 * A dependency's own error, kept for the server's log line. It never crosses a wire: encoding an error (for /rpc,
 * or any other schema-based transport) drops it, so no door can send a driver's message, a host name or a query.
 */
const ServerSideCause = Schema.optional(
  Schema.transform(Schema.Undefined, Schema.Unknown, {
    strict: true,
    decode: () => undefined,
    encode: () => undefined
  })
)

/**
 * A dependency (database, cache, upstream) failed or could not be reached. The cause stays on the
 * server: it is logged, never sent to clients.
 */
export class DependencyUnavailable extends Schema.TaggedError<DependencyUnavailable>()("DependencyUnavailable", {
  dependency: Schema.String,
  operation: Schema.String,
  cause: ServerSideCause
}) {
  override get message(): string {
    return `${this.dependency} unavailable (${this.operation})`
  }
}

/**
 * A write was sent but its outcome could not be known (the connection to the database was lost before the answer,
 * or the database did not answer within its bound): it may have been applied, or may still be. Not safe to retry
 * blindly: read first, or retry with the same idempotency key, which applies the write at most once.
 */
export class WriteOutcomeUnknown extends Schema.TaggedError<WriteOutcomeUnknown>()("WriteOutcomeUnknown", {
  operation: Schema.String,
  cause: ServerSideCause
}) {
  override get message(): string {
    return `the outcome of ${this.operation} is unknown: it may have been applied; retry only with an idempotency key`
  }
}

/** Shed: the server is at its in-flight limit, or this caller is over its rate. Retry later. */
export class RateLimited extends Schema.TaggedError<RateLimited>()("RateLimited", {
  reason: Schema.String
}) {
  override get message(): string {
    return this.reason
  }
}

/** No valid credentials: a missing, malformed, expired or wrongly signed token. The reason never quotes the token. */
export class Unauthenticated extends Schema.TaggedError<Unauthenticated>()("Unauthenticated", {
  reason: Schema.String
}) {
  override get message(): string {
    return `unauthenticated: ${this.reason}`
  }
}

/** Valid credentials that do not allow this call (a missing scope). */
export class PermissionDenied extends Schema.TaggedError<PermissionDenied>()("PermissionDenied", {
  reason: Schema.String
}) {
  override get message(): string {
    return `permission denied: ${this.reason}`
  }
}

/** Every error a use case may fail with. The edge maps each one to a status (see adapters/edge). */
export type AppError =
  | InvalidArgument
  | UserNotFound
  | EmailTaken
  | FailedPrecondition
  | DeadlineExceeded
  | DependencyUnavailable
  | WriteOutcomeUnknown
  | RateLimited
  | Unauthenticated
  | PermissionDenied

/** How storage refuses a call: the store is unavailable, or it refused what the caller sent. */
export type StorageError = DependencyUnavailable | InvalidArgument | FailedPrecondition

/** How a write can fail besides the data's own conflicts: as a read can, or with an outcome it cannot know. */
export type WriteError = StorageError | WriteOutcomeUnknown
