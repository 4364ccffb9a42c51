import { Context, type Effect, Schema } from "effect"
import type { StorageError } from "../domain/errors.js"
import { UserId } from "../domain/User.js"

// The worked example of docs/extending.md: an audit log of user changes, added with Layers only.

export const AuditAction = Schema.Literal("created", "updated", "deleted")
export type AuditAction = typeof AuditAction.Type

/** One change to a user: what happened and when (the database's clock, or the process's in memory). */
export class AuditEntry extends Schema.Class<AuditEntry>("AuditEntry")({
  userId: UserId,
  action: AuditAction,
  at: Schema.DateFromSelf
}) {}

/** Append-only storage of audit entries. Every method fails only as named. */
export class AuditLog extends Context.Tag("effect-microservice/AuditLog")<
  AuditLog,
  {
    /** Records one entry; with an idempotency key, at most one entry per key and action, however often retried. */
    readonly record: (
      userId: UserId,
      action: AuditAction,
      idempotencyKey?: string | undefined
    ) => Effect.Effect<void, StorageError>
    /** The user's latest `limit` entries, newest first (entries recorded together keep their order). */
    readonly forUser: (userId: UserId, limit: number) => Effect.Effect<ReadonlyArray<AuditEntry>, StorageError>
  }
>() {}
