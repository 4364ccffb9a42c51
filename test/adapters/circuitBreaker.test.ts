import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Logger, LogLevel, Ref, TestClock } from "effect"
import { makeCircuitBreaker } from "../../src/adapters/resilience/CircuitBreaker.js"

class Refused {
  readonly _tag = "Refused"
}
class BadInput {
  readonly _tag = "BadInput"
}

/** Log lines (level and message) written while `effect` runs. */
const capturingLogs = <A, E, R>(effect: (lines: Array<string>) => Effect.Effect<A, E, R>) => {
  const lines: Array<string> = []
  const logger = Logger.make(({ logLevel, message }) => {
    lines.push(`${logLevel.label} ${Array.isArray(message) ? message.join(" ") : String(message)}`)
  })
  return effect(lines).pipe(
    Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
    Logger.withMinimumLogLevel(LogLevel.Debug)
  )
}

describe("CircuitBreaker", () => {
  it.scoped("errors that do not count (the caller's) never open it, however many", () =>
    Effect.gen(function* () {
      const breaker = yield* makeCircuitBreaker({ name: "Test", failureThreshold: 5, resetAfter: "1 second" })
      for (let i = 0; i < 1000; i++) {
        const exit = yield* Effect.exit(
          breaker.protect(Effect.fail(new BadInput()), (error) => error._tag !== "BadInput")
        )
        assert.isTrue(Exit.isFailure(exit))
      }
      assert.strictEqual(yield* breaker.state, "closed")
      // And they reset the count: four dependency faults, one caller fault, four more: still closed.
      const fail = breaker.protect(Effect.fail(new Refused()), () => true)
      for (let i = 0; i < 4; i++) yield* Effect.exit(fail)
      yield* Effect.exit(breaker.protect(Effect.fail(new BadInput()), (error) => error._tag !== "BadInput"))
      for (let i = 0; i < 4; i++) yield* Effect.exit(fail)
      assert.strictEqual(yield* breaker.state, "closed")
      yield* Effect.exit(fail)
      assert.strictEqual(yield* breaker.state, "open")
    })
  )

  it.scoped("an interrupted call (the caller gave up) does not count", () =>
    Effect.gen(function* () {
      const breaker = yield* makeCircuitBreaker({ name: "Test", failureThreshold: 1, resetAfter: "1 second" })
      for (let i = 0; i < 10; i++) {
        const fiber = yield* Effect.fork(breaker.protect(Effect.never))
        yield* Fiber.interrupt(fiber)
      }
      assert.strictEqual(yield* breaker.state, "closed")
    })
  )

  it.scoped("with a probe, an open breaker closes on schedule with no traffic at all", () =>
    Effect.gen(function* () {
      const healthy = yield* Ref.make(false)
      const probes = yield* Ref.make(0)
      const breaker = yield* makeCircuitBreaker({
        name: "Test",
        failureThreshold: 2,
        resetAfter: "1 second",
        probe: Ref.update(probes, (n) => n + 1).pipe(
          Effect.zipRight(Ref.get(healthy)),
          Effect.flatMap((ok) => (ok ? Effect.void : Effect.fail(new Refused())))
        )
      })
      yield* Effect.exit(breaker.protect(Effect.fail(new Refused())))
      yield* Effect.exit(breaker.protect(Effect.fail(new Refused())))
      assert.strictEqual(yield* breaker.state, "open")
      // While open, calls fail at once without running.
      const ran = yield* Ref.make(false)
      const refused = yield* Effect.exit(breaker.protect(Ref.set(ran, true)))
      assert.isTrue(Exit.isFailure(refused))
      assert.isFalse(yield* Ref.get(ran))
      // Still down: the probe fails, the breaker stays open and probes again a reset interval later.
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Ref.get(probes), 1)
      assert.strictEqual(yield* breaker.state, "open")
      yield* Ref.set(healthy, true)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Ref.get(probes), 2)
      assert.strictEqual(yield* breaker.state, "closed")
    })
  )

  it.scoped("a probe that hangs is bounded and the breaker stays open", () =>
    Effect.gen(function* () {
      const breaker = yield* makeCircuitBreaker({
        name: "Test",
        failureThreshold: 1,
        resetAfter: "1 second",
        probe: Effect.never,
        probeTimeout: "200 millis"
      })
      yield* Effect.exit(breaker.protect(Effect.fail(new Refused())))
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* breaker.state, "half-open")
      yield* TestClock.adjust("200 millis")
      assert.strictEqual(yield* breaker.state, "open")
    })
  )

  it.scoped("logs the opening at warn once per outage; failed probes only at debug", () =>
    capturingLogs((lines) =>
      Effect.gen(function* () {
        const down = yield* Deferred.make<void>()
        const breaker = yield* makeCircuitBreaker({
          name: "Test",
          failureThreshold: 1,
          resetAfter: "2 seconds",
          probe: Effect.flatMap(Deferred.isDone(down), (up) => (up ? Effect.void : Effect.fail(new Refused())))
        })
        yield* Effect.exit(breaker.protect(Effect.fail(new Refused())))
        for (let i = 0; i < 5; i++) yield* TestClock.adjust("2 seconds")
        yield* Deferred.succeed(down, undefined)
        yield* TestClock.adjust("2 seconds")
        assert.strictEqual(yield* breaker.state, "closed")
        const warnings = lines.filter((line) => line.startsWith("WARN"))
        assert.deepStrictEqual(warnings, ["WARN Test circuit breaker opened"])
        assert.isTrue(lines.some((line) => line.startsWith("INFO Test circuit breaker closed")))
      })
    )
  )
})
