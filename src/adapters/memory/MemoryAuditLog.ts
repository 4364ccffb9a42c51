import { Effect, Layer, Ref } from "effect"
import type { AuditAction } from "../../ports/AuditLog.js"
import { AuditEntry, AuditLog } from "../../ports/AuditLog.js"

/** AuditLog in process memory: for tests and for trying a feature before its table exists. Never fails. */
export const MemoryAuditLogLive = Layer.effect(
  AuditLog,
  Effect.map(Ref.make<ReadonlyArray<AuditEntry>>([]), (entries) => {
    // Keys (with their action) already recorded: a retried write is recorded once.
    const keys = new Set<string>()
    const firstTime = (action: AuditAction, key: string | undefined) => {
      if (key === undefined) return true
      const seen = keys.has(`${action}\u0000${key}`)
      keys.add(`${action}\u0000${key}`)
      return !seen
    }
    return AuditLog.of({
      record: (userId, action, idempotencyKey) =>
        Ref.update(entries, (all) =>
          firstTime(action, idempotencyKey) ? [...all, new AuditEntry({ userId, action, at: new Date() })] : all
        ).pipe(Effect.withSpan("AuditLog.record")),
      forUser: (userId, limit) =>
        Ref.get(entries).pipe(
          Effect.map((all) =>
            all
              .filter((entry) => entry.userId === userId)
              .reverse()
              .slice(0, limit)
          ),
          Effect.withSpan("AuditLog.forUser")
        )
    })
  })
)
