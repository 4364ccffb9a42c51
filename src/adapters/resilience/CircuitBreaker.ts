import { Cause, Clock, Data, Duration, Effect, Exit, Metric, Queue, type Scope } from "effect"

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
  /** How long it stays open before the dependency is tried again. */
  readonly resetAfter: Duration.DurationInput
  /**
   * A cheap check of the dependency (`SELECT 1`, `PING`). When set, an open breaker runs it every `resetAfter`
   * whatever the traffic, and only its success closes the breaker: recovery never waits for a caller. Without it,
   * the first call after `resetAfter` is the probe.
   */
  readonly probe?: Effect.Effect<unknown, unknown>
  /** Bound on one probe (default: resetAfter). */
  readonly probeTimeout?: Duration.DurationInput
}

export interface CircuitBreaker {
  /**
   * Runs the effect unless the breaker is open. A success moves the breaker to closed; a failure counts towards
   * opening it only when `counts` says it is the dependency's fault (default: every failure). A failure that does
   * not count is an answer from a working dependency (a constraint violation, bad input) and resets the count.
   * An interruption (the caller gave up) counts as neither.
   */
  readonly protect: <A, E, R>(
    effect: Effect.Effect<A, E, R>,
    counts?: (error: E) => boolean
  ) => Effect.Effect<A, E | BreakerOpen, R>
  readonly state: Effect.Effect<BreakerState>
}

const breakerState = Metric.gauge("circuit_breaker_state", {
  description: "Circuit breaker state by dependency: 0 closed, 1 half-open, 2 open"
})
const STATE_VALUE: Record<BreakerState, number> = { closed: 0, "half-open": 1, open: 2 }

const always = () => true

/**
 * A consecutive-failure circuit breaker: closed → (N failures in a row) → open → (after resetAfter) a half-open
 * probe → closed on success, open again on failure. While open, calls fail at once, so a sick dependency adds no
 * latency. The opening is logged at warn once per outage; a failed probe only at debug.
 */
export const makeCircuitBreaker = (options: CircuitBreakerOptions): Effect.Effect<CircuitBreaker, never, Scope.Scope> =>
  Effect.gen(function* () {
    const gauge = breakerState.pipe(Metric.tagged("name", options.name.toLowerCase()))
    gauge.unsafeUpdate(0, [])
    const resetAfterMs = Duration.toMillis(options.resetAfter)
    let state: BreakerState = "closed"
    let failures = 0
    let openedAt = 0
    // When the current outage began (first opening since the breaker was last closed).
    let outageStartedAt = 0
    let probing = false
    // Wakes the background prober when the breaker opens.
    const opened = yield* Queue.sliding<void>(1)

    const transition = (to: BreakerState, now: number): Effect.Effect<void> => {
      if (to === state) return Effect.void
      const from = state
      state = to
      gauge.unsafeUpdate(STATE_VALUE[to], [])
      if (to === "open") {
        openedAt = now
        if (options.probe !== undefined) Queue.unsafeOffer(opened, undefined)
        if (from === "closed") {
          outageStartedAt = now
          return Effect.logWarning(`${options.name} circuit breaker opened`).pipe(
            Effect.annotateLogs({ failures, retry_after_ms: resetAfterMs })
          )
        }
        return Effect.logDebug(`${options.name} circuit breaker probe failed; still open`)
      }
      if (to === "closed") {
        return Effect.logInfo(`${options.name} circuit breaker closed`).pipe(
          Effect.annotateLogs({ outage_ms: now - outageStartedAt })
        )
      }
      return Effect.logDebug(`${options.name} circuit breaker half-open`)
    }

    /** Records how a call through the breaker ended. */
    const settle = <A, E>(exit: Exit.Exit<A, E>, probe: boolean, counts: (error: E) => boolean) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        if (probe) probing = false
        if (Exit.isSuccess(exit)) {
          failures = 0
          return transition("closed", now)
        }
        if (Cause.isInterruptedOnly(exit.cause)) return probe ? transition("open", now) : Effect.void
        const failure = Cause.failureOption(exit.cause)
        if (failure._tag === "Some" && !counts(failure.value)) {
          failures = 0
          return transition("closed", now)
        }
        failures += 1
        return probe || failures >= options.failureThreshold ? transition("open", now) : Effect.void
      })

    const protect = <A, E, R>(
      effect: Effect.Effect<A, E, R>,
      counts: (error: E) => boolean = always
    ): Effect.Effect<A, E | BreakerOpen, R> =>
      Effect.flatMap(Clock.currentTimeMillis, (now): Effect.Effect<A, E | BreakerOpen, R> => {
        if (state === "half-open") return Effect.fail(new BreakerOpen({ name: options.name }))
        if (state === "open") {
          // With a background probe, only the probe closes the breaker; without, the first call after resetAfter.
          if (options.probe !== undefined || probing || now - openedAt < resetAfterMs)
            return Effect.fail(new BreakerOpen({ name: options.name }))
          probing = true
          return Effect.zipRight(
            transition("half-open", now),
            Effect.onExit(effect, (exit) => settle(exit, true, counts))
          )
        }
        return Effect.onExit(effect, (exit) => settle(exit, false, counts))
      })

    if (options.probe !== undefined) {
      const probe = options.probe
      const probeTimeout = options.probeTimeout ?? options.resetAfter
      // While open: wait resetAfter, probe (bounded, in the background of any caller), close on success.
      const probeOnce: Effect.Effect<void> = Effect.gen(function* () {
        const elapsed = (yield* Clock.currentTimeMillis) - openedAt
        if (elapsed < resetAfterMs) yield* Effect.sleep(Duration.millis(resetAfterMs - elapsed))
        if (state !== "open") return
        yield* transition("half-open", yield* Clock.currentTimeMillis)
        const exit = yield* Effect.exit(
          probe.pipe(
            // The probe's own cleanup (a query cancel on a frozen server) must not hold the next probe.
            Effect.disconnect,
            Effect.timeoutFail({
              duration: probeTimeout,
              onTimeout: () => new Error(`probe timed out after ${Duration.format(Duration.decode(probeTimeout))}`)
            })
          )
        )
        yield* settle(exit, true, always)
      })
      yield* Queue.take(opened).pipe(
        Effect.zipRight(probeOnce),
        Effect.forever,
        Effect.interruptible,
        Effect.forkScoped
      )
    }

    return { protect, state: Effect.sync(() => state) }
  })
