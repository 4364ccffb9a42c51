import { Effect, Layer } from "effect"
import { InvalidArgument } from "../domain/errors.js"
import { pageSize } from "../domain/Page.js"
import { UserId } from "../domain/User.js"
import { validateField } from "../domain/Validation.js"
import { type AuditAction, AuditLog } from "../ports/AuditLog.js"
import { mayReadAudit } from "./Ownership.js"
import { Users } from "./Users.js"

// The worked example of docs/extending.md: an audit log of user changes, added with Layers only. Neither the
// Users use cases nor the domain know about it.

/** Reading the audit trail of a user. */
export class AuditTrail extends Effect.Service<AuditTrail>()("effect-microservice/AuditTrail", {
  effect: Effect.map(AuditLog, (log) => ({
    forUser: Effect.fn("AuditTrail.forUser")(function* (rawId: bigint, rawLimit: number) {
      yield* mayReadAudit
      const id = yield* validateField(UserId, "user_id")(rawId)
      // The page size rule (0: 20, else 1 to 100), under this call's field name.
      const limit = yield* pageSize(rawLimit).pipe(
        Effect.mapError((error) => new InvalidArgument({ field: "limit", reason: error.reason }))
      )
      return yield* log.forUser(id, limit)
    })
  }))
}) {}

/**
 * Users, decorated: every committed create, update and delete is recorded. Recording is best effort: the write
 * has committed, so a failed record is logged (with the user id and action), not returned to the caller. An audit
 * log that must never miss an entry writes it in the user's transaction instead (an outbox).
 */
export const AuditedUsersLive = Layer.effect(
  Users,
  Effect.gen(function* () {
    const users = yield* Users
    const log = yield* AuditLog
    // A write retried with its idempotency key is recorded once (the key is recorded with the entry).
    const record = (userId: UserId, action: AuditAction, idempotencyKey: string | undefined) =>
      log
        .record(userId, action, idempotencyKey)
        .pipe(
          Effect.catchAll((error) =>
            Effect.logWarning("audit entry not recorded").pipe(
              Effect.annotateLogs({ user_id: String(userId), action, error: error.message })
            )
          )
        )
    return Users.make({
      ...users,
      create: (request) =>
        Effect.tap(users.create(request), (user) => record(user.id, "created", request.idempotencyKey)),
      update: (request) =>
        Effect.tap(users.update(request), (user) =>
          request.name === undefined && request.email === undefined
            ? Effect.void
            : record(user.id, "updated", request.idempotencyKey)
        ),
      delete: (request) =>
        Effect.tap(users.delete(request), () =>
          // delete succeeded, so the id was a valid UserId.
          record(UserId.make(request.id), "deleted", request.idempotencyKey)
        )
    })
  })
)
