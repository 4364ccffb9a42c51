import { Effect, Layer, Ref } from "effect"
import { AuditEntry, AuditLog } from "../../ports/AuditLog.js"

/** AuditLog in process memory: for tests and for trying a feature before its table exists. Never fails. */
export const MemoryAuditLogLive = Layer.effect(
  AuditLog,
  Effect.map(Ref.make<ReadonlyArray<AuditEntry>>([]), (entries) =>
    AuditLog.of({
      record: (userId, action) =>
        Ref.update(entries, (all) => [...all, new AuditEntry({ userId, action, at: new Date() })]).pipe(
          Effect.withSpan("AuditLog.record")
        ),
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
  )
)
