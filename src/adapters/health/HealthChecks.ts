import { Cause, Duration, Effect, Exit, Layer } from "effect"
import { describeError } from "../../domain/describeError.js"
import { type HealthCheck, HealthChecks, type HealthResult } from "../../ports/HealthChecks.js"

/** The registry of health checks: adding a Layer that registers one adds it to readiness. */
export const HealthChecksLive = Layer.sync(HealthChecks, () => {
  const checks = new Map<string, HealthCheck>()
  return HealthChecks.of({
    register: (check) =>
      Effect.acquireRelease(
        Effect.sync(() => void checks.set(check.name, check)),
        () => Effect.sync(() => void checks.delete(check.name))
      ),
    // Suspended: the checks are those registered when it runs, not when the effect was made.
    runAll: (timeout) =>
      Effect.suspend(() =>
        Effect.forEach(
          [...checks.values()],
          (entry) => {
            const started = performance.now()
            // Disconnected: at the timeout the answer is given at once, and the check is interrupted in the
            // background. Interrupting it can take long (cancelling a query on a frozen Postgres opens a new
            // connection to it), and a probe must not wait for that.
            return entry.check.pipe(
              Effect.disconnect,
              Effect.timeoutFail({
                duration: timeout,
                onTimeout: () => new Error(`no answer within ${Duration.format(Duration.decode(timeout))}`)
              }),
              Effect.exit,
              Effect.map(
                (exit): HealthResult => ({
                  name: entry.name,
                  critical: entry.critical,
                  ok: Exit.isSuccess(exit),
                  // A check that dies (a bug) fails like one that fails: readiness itself never fails.
                  ...(Exit.isFailure(exit) ? { error: describeError(Cause.squash(exit.cause)) } : {}),
                  durationMs: Math.round(performance.now() - started)
                })
              )
            )
          },
          { concurrency: "unbounded" }
        )
      ).pipe(Effect.withSpan("HealthChecks.runAll"))
  })
})
