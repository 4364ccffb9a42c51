import { assert, layer } from "@effect/vitest"
import { Effect, type Layer } from "effect"
import { UserId } from "../../src/domain/User.js"
import { AuditLog } from "../../src/ports/AuditLog.js"

// Ids apart from other suites' and runs' (the harness database is fresh per suite, the memory log per layer).
let next = BigInt(process.pid) * 1_000_000n
const freshUser = () => UserId.make(++next)

/** What every AuditLog adapter must do, whatever it stores in. */
export const auditLogContract = <E>(name: string, adapter: Layer.Layer<AuditLog, E>) =>
  layer(adapter, { timeout: "60 seconds", excludeTestServices: true })(`AuditLog contract: ${name}`, (it) => {
    it.effect("forUser returns the user's entries, newest first, and only theirs", () =>
      Effect.gen(function* () {
        const log = yield* AuditLog
        const ada = freshUser()
        const other = freshUser()
        yield* log.record(ada, "created")
        yield* log.record(other, "created")
        yield* log.record(ada, "updated")
        yield* log.record(ada, "deleted")
        const entries = yield* log.forUser(ada, 10)
        assert.deepStrictEqual(
          entries.map((e) => [e.userId, e.action]),
          [
            [ada, "deleted"],
            [ada, "updated"],
            [ada, "created"]
          ]
        )
        assert.isTrue(entries.every((e) => e.at instanceof Date && Math.abs(e.at.getTime() - Date.now()) < 60_000))
      })
    )

    it.effect("forUser keeps to the limit, and is empty for a user without entries", () =>
      Effect.gen(function* () {
        const log = yield* AuditLog
        const user = freshUser()
        for (let i = 0; i < 5; i++) yield* log.record(user, "updated")
        assert.strictEqual((yield* log.forUser(user, 2)).length, 2)
        assert.deepStrictEqual(yield* log.forUser(freshUser(), 10), [])
      })
    )

    it.effect("ids beyond 2^53 are kept exactly", () =>
      Effect.gen(function* () {
        const log = yield* AuditLog
        const big = UserId.make(2n ** 62n + BigInt(process.pid))
        yield* log.record(big, "created")
        const [entry] = yield* log.forUser(big, 1)
        assert.strictEqual(entry?.userId, big)
      })
    )
  })
