import { Duration, Effect, Layer } from "effect"
import { type HealthCheck, HealthChecks, type HealthResult } from "../ports/HealthChecks.js"

const describe = (error: unknown): string =>
  error instanceof Error ? error.message : typeof error === "string" ? error : JSON.stringify(error)

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
            return entry.check.pipe(
              Effect.timeoutFail({
                duration: timeout,
                onTimeout: () => new Error(`no answer within ${Duration.format(Duration.decode(timeout))}`)
              }),
              Effect.either,
              Effect.map(
                (outcome): HealthResult => ({
                  name: entry.name,
                  critical: entry.critical,
                  ok: outcome._tag === "Right",
                  ...(outcome._tag === "Left" ? { error: describe(outcome.left) } : {}),
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
