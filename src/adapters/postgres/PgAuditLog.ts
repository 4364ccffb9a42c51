import { SqlClient } from "@effect/sql"
import { Effect, Layer, Schema } from "effect"
import { UserId } from "../../domain/User.js"
import { AuditAction, AuditEntry, AuditLog } from "../../ports/AuditLog.js"
import { HealthChecks } from "../../ports/HealthChecks.js"
import { PgGuard, toDomainError } from "./PgGuard.js"

const Row = Schema.Struct({
  user_id: Schema.Union(Schema.BigIntFromSelf, Schema.BigInt).pipe(Schema.compose(UserId)),
  action: AuditAction,
  at: Schema.Union(Schema.DateFromSelf, Schema.DateFromString)
})
const decodeRows = Schema.decodeUnknown(Schema.Array(Row))

/**
 * AuditLog on Postgres (table `audit_log`, migrations 0002 and 0003). Registers a non-critical health check: the service
 * stays ready when only the audit log cannot be written.
 */
export const PgAuditLogLive = Layer.scoped(
  AuditLog,
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const guard = yield* PgGuard
    yield* (yield* HealthChecks).register({
      name: "audit_log",
      critical: false,
      check: sql`SELECT 1 FROM audit_log LIMIT 1`
    })
    return AuditLog.of({
      record: Effect.fn("AuditLog.record")(function* (userId, action, idempotencyKey) {
        yield* guard
          .run(
            "AuditLog.record",
            sql`
              INSERT INTO audit_log (user_id, action, idempotency_key)
              VALUES (${String(userId)}, ${action}, ${idempotencyKey ?? null})
              ON CONFLICT (idempotency_key, action) WHERE idempotency_key IS NOT NULL DO NOTHING`
          )
          .pipe(Effect.mapError(toDomainError))
      }),
      forUser: Effect.fn("AuditLog.forUser")(function* (userId, limit) {
        const rows = yield* guard
          .run(
            "AuditLog.forUser",
            sql`
              SELECT user_id, action, at FROM audit_log WHERE user_id = ${String(userId)}
              ORDER BY id DESC LIMIT ${limit}`,
            { read: true }
          )
          .pipe(Effect.mapError(toDomainError))
        // Rows that do not decode mean the schema and the code disagree: a defect, not a client error.
        const decoded = yield* Effect.orDie(decodeRows(rows))
        return decoded.map((row) => new AuditEntry({ userId: row.user_id, action: row.action, at: row.at }))
      })
    })
  })
)
