import { Clock, Data, Duration, Effect, Exit, Metric } from "effect"

export class BreakerOpen extends Data.TaggedError("BreakerOpen")<{ readonly name: string }> {
  override get message(): string {
    return `${this.name} circuit breaker is open`
  }
}

export type BreakerState = "closed" | "open" | "half-open"

export interface CircuitBreakerOptions {
  readonly name: string
  /** Consecutive failures that open the breaker. */
  readonly failureThreshold: number
  /** How long it stays open before one probe call may try again. */
  readonly resetAfter: Duration.DurationInput
}

export interface CircuitBreaker {
  /** Runs the effect unless the breaker is open; failures and successes move the breaker. */
  readonly protect: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | BreakerOpen, R>
  readonly state: Effect.Effect<BreakerState>
}

/**
 * A consecutive-failure circuit breaker: closed → (N failures in a row) → open → (after resetAfter) one
 * half-open probe → closed on success, open again on failure. While open, calls fail at once, so a sick
 * dependency adds no latency. Interruptions count as neither success nor failure.
 */
const breakerState = Metric.gauge("circuit_breaker_state", {
  description: "Circuit breaker state by dependency: 0 closed, 1 half-open, 2 open"
})
const STATE_VALUE: Record<BreakerState, number> = { closed: 0, "half-open": 1, open: 2 }

export const makeCircuitBreaker = (options: CircuitBreakerOptions): Effect.Effect<CircuitBreaker> =>
  Effect.sync(() => {
    const gauge = breakerState.pipe(Metric.tagged("name", options.name.toLowerCase()))
    gauge.unsafeUpdate(0, [])
    const resetAfterMs = Duration.toMillis(options.resetAfter)
    let state: BreakerState = "closed"
    let failures = 0
    let openedAt = 0
    let probing = false

    const transition = (to: BreakerState) => {
      if (to === state) return Effect.void
      state = to
      gauge.unsafeUpdate(STATE_VALUE[to], [])
      return to === "open"
        ? Effect.logWarning(`${options.name} circuit breaker opened`).pipe(
            Effect.annotateLogs({ failures, retry_after_ms: resetAfterMs })
          )
        : Effect.logInfo(`${options.name} circuit breaker ${to}`)
    }

    const protect = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | BreakerOpen, R> =>
      Effect.flatMap(Clock.currentTimeMillis, (now): Effect.Effect<A, E | BreakerOpen, R> => {
        let probe = false
        if (state === "open") {
          if (now - openedAt < resetAfterMs || probing) return Effect.fail(new BreakerOpen({ name: options.name }))
          probe = true
        } else if (state === "half-open") {
          return Effect.fail(new BreakerOpen({ name: options.name }))
        }
        if (probe) probing = true
        const enter = probe ? transition("half-open") : Effect.void
        return Effect.zipRight(
          enter,
          Effect.onExit(effect, (exit) => {
            if (probe) probing = false
            if (Exit.isSuccess(exit)) {
              failures = 0
              return transition("closed")
            }
            if (Exit.isInterrupted(exit)) {
              if (!probe) return Effect.void
              openedAt = now
              return transition("open")
            }
            failures += 1
            if (probe || failures >= options.failureThreshold) {
              openedAt = now
              return transition("open")
            }
            return Effect.void
          })
        )
      })

    return { protect, state: Effect.sync(() => state) }
  })
