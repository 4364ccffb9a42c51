import {
  Clock,
  Config,
  Deferred,
  Duration,
  Effect,
  FiberId,
  Layer,
  Option,
  Runtime,
  Schedule,
  type Scope,
  Stream,
  SubscriptionRef
} from "effect"
import { HealthChecks, type HealthResult } from "../../ports/HealthChecks.js"
import { Lifecycle, type Phase, type Readiness } from "../../ports/Lifecycle.js"
import { untilCutShort } from "../../ports/Shutdown.js"
import { duration, parsed } from "../config/Settings.js"

export interface LifecycleOptions {
  /** What must start before the service is ready (e.g. database, grpc, http). */
  readonly startupSteps: ReadonlyArray<string>
  readonly checkTimeout: Duration.DurationInput
  /** Check results are reused this long, so a storm of probes does not reach the dependencies. */
  readonly cacheTtl: Duration.DurationInput
  /** When set, exactly these checks are critical; otherwise each check's own setting (database yes, cache no). */
  readonly critical: ReadonlyArray<string> | undefined
}

/**
 * `run` at most once per `ttl` (counted from when a run ends), shared by every caller: a caller during a run waits
 * for that run (each check of which is bounded by the check timeout), and a caller that goes away cancels nothing.
 * The run is forked in `scope`, not in the caller: unlike Effect.cachedWithTTL, which computes inside its lock, in the
 * first caller's fiber, with the TTL counted from the start (a run longer than the TTL was stale on arrival).
 */
const sharedWithTtl = (
  run: Effect.Effect<ReadonlyArray<HealthResult>>,
  ttl: Duration.DurationInput,
  scope: Scope.Scope
): Effect.Effect<ReadonlyArray<HealthResult>> => {
  const ttlMs = Duration.toMillis(Duration.decode(ttl))
  let last: { readonly results: ReadonlyArray<HealthResult>; readonly endedAt: number } | undefined
  let inFlight: Deferred.Deferred<ReadonlyArray<HealthResult>> | undefined
  // Only when a run was cut short (the service is closing): unready, rather than a failed probe.
  const awaitRun = (deferred: Deferred.Deferred<ReadonlyArray<HealthResult>>) =>
    Deferred.await(deferred).pipe(
      Effect.catchAllCause(() =>
        Effect.succeed([{ name: "health", critical: true, ok: false, error: "checks interrupted", durationMs: 0 }])
      )
    )
  return Effect.flatMap(Clock.currentTimeMillis, (now) =>
    Effect.suspend(() => {
      if (last !== undefined && now - last.endedAt < ttlMs) return Effect.succeed(last.results)
      if (inFlight !== undefined) return awaitRun(inFlight)
      // Decided and recorded in one synchronous step, so concurrent callers share this run.
      const deferred = Deferred.unsafeMake<ReadonlyArray<HealthResult>>(FiberId.none)
      inFlight = deferred
      return run.pipe(
        Effect.tap((results) =>
          Effect.map(Clock.currentTimeMillis, (endedAt) => {
            last = { results, endedAt }
          })
        ),
        Effect.intoDeferred(deferred),
        Effect.ensuring(
          Effect.sync(() => {
            inFlight = undefined
          })
        ),
        Effect.forkIn(scope),
        Effect.zipRight(awaitRun(deferred))
      )
    })
  )
}

export const LifecycleLive = (options: LifecycleOptions) =>
  Layer.scoped(
    Lifecycle,
    Effect.gen(function* () {
      const checks = yield* HealthChecks
      const pending = new Set(options.startupSteps)
      const phase = yield* SubscriptionRef.make<Phase>(pending.size === 0 ? "running" : "starting")
      const cachedChecks = sharedWithTtl(checks.runAll(options.checkTimeout), options.cacheTtl, yield* Effect.scope)
      const critical = options.critical === undefined ? undefined : new Set(options.critical)

      const started = (step: string) =>
        Effect.gen(function* () {
          pending.delete(step)
          if (pending.size === 0) {
            yield* SubscriptionRef.update(phase, (current) => (current === "starting" ? "running" : current))
          }
        })

      const evaluate = (current: Phase): Effect.Effect<Readiness> => {
        if (current === "shutting-down") {
          return Effect.succeed({ status: "unready", details: { service: "shutting down" }, phase: current })
        }
        if (current === "starting") {
          const waiting = `starting (waiting for ${[...pending].join(", ")})`
          return Effect.succeed({ status: "unready", details: { service: waiting }, phase: current })
        }
        return Effect.map(cachedChecks, (results) => {
          const details: Record<string, string> = {}
          let status: Readiness["status"] = "ready"
          for (const result of results) {
            details[result.name] = result.ok ? "ok" : (result.error ?? "failed")
            if (result.ok) continue
            const isCritical = critical === undefined ? result.critical : critical.has(result.name)
            status = isCritical ? "unready" : status === "ready" ? "degraded" : status
          }
          return { status, details, phase: current }
        })
      }

      const readiness = Effect.flatMap(SubscriptionRef.get(phase), evaluate)
      const readinessChanges = Stream.merge(
        phase.changes,
        Stream.fromSchedule(Schedule.spaced(options.cacheTtl)).pipe(Stream.mapEffect(() => SubscriptionRef.get(phase)))
      ).pipe(
        Stream.mapEffect(evaluate),
        Stream.changesWith(
          (a, b) =>
            a.phase === b.phase && a.status === b.status && JSON.stringify(a.details) === JSON.stringify(b.details)
        )
      )

      // The snapshot behind readinessNow: the last evaluation while running, and when it was made.
      const runtime = yield* Effect.runtime<never>()
      const runSync = Runtime.runSync(runtime)
      const ttlMs = Duration.toMillis(Duration.decode(options.cacheTtl))
      let snapshot: { readonly readiness: Readiness; readonly at: number } | undefined
      let refreshing = false
      const refresh = () => {
        if (refreshing) return
        refreshing = true
        Runtime.runFork(runtime, readiness).addObserver((exit) => {
          refreshing = false
          if (exit._tag === "Success") snapshot = { readiness: exit.value, at: performance.now() }
        })
      }
      const readinessNow = (): Readiness | undefined => {
        const current = runSync(SubscriptionRef.get(phase))
        // Starting and shutting down need no check: evaluated now (synchronously).
        if (current !== "running") return runSync(evaluate(current))
        if (snapshot === undefined || performance.now() - snapshot.at >= ttlMs) refresh()
        return snapshot?.readiness.phase === "running" ? snapshot.readiness : undefined
      }

      return Lifecycle.of({
        readinessNow,
        started,
        pendingSteps: Effect.sync(() => [...pending]),
        phase: SubscriptionRef.get(phase),
        beginShutdown: SubscriptionRef.set(phase, "shutting-down"),
        readiness,
        readinessChanges
      })
    })
  )

export const config = Config.all({
  checkTimeout: duration("HEALTH_CHECK_TIMEOUT").pipe(Config.withDefault(Duration.seconds(1))),
  cacheTtl: duration("HEALTH_CACHE_TTL").pipe(Config.withDefault(Duration.seconds(1))),
  critical: parsed(
    "HEALTH_CRITICAL",
    (text) => {
      const names = text.split(",").map((name) => name.trim())
      return names.every((name) => /^[a-z][a-z0-9_-]*$/.test(name)) ? Option.some(names) : Option.none()
    },
    "a comma-separated list of check names such as database,cache"
  ).pipe(Config.option),
  shutdownDelay: duration("SHUTDOWN_DELAY").pipe(Config.withDefault(Duration.zero))
})

export const layerConfig = (startupSteps: ReadonlyArray<string>) =>
  Layer.unwrapEffect(
    Effect.map(config, (settings) =>
      LifecycleLive({ ...settings, startupSteps, critical: Option.getOrUndefined(settings.critical) })
    )
  )

/**
 * Built after the doors, so its finalizer runs before theirs at shutdown: readiness turns unready at once, and the
 * service keeps serving for SHUTDOWN_DELAY (for load balancers to notice) before the gRPC server starts draining.
 */
export const ShutdownGateLive = Layer.unwrapEffect(
  Effect.map(config, ({ shutdownDelay }) =>
    Layer.scopedDiscard(
      Effect.flatMap(Lifecycle, (lifecycle) =>
        Effect.addFinalizer(() =>
          lifecycle.beginShutdown.pipe(
            Effect.zipRight(
              Effect.logInfo("Not ready: draining").pipe(
                Effect.annotateLogs({ delay_ms: Duration.toMillis(shutdownDelay) })
              )
            ),
            // A second signal cuts the delay short too.
            Effect.zipRight(untilCutShort(Effect.sleep(shutdownDelay)))
          )
        )
      )
    )
  )
)
