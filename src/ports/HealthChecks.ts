import type { Duration, Effect, Scope } from "effect"
import { Context } from "effect"

export interface HealthCheck {
  readonly name: string
  /** Succeeds when the dependency answers. Run with a bound by the caller. */
  readonly check: Effect.Effect<void, unknown>
  /** Whether the service is unready when this check fails (a database is; a cache, by default, is not). */
  readonly critical: boolean
}

export interface HealthResult {
  readonly name: string
  readonly critical: boolean
  readonly ok: boolean
  /** The failure's message when not ok. */
  readonly error?: string
  readonly durationMs: number
}

/** Where adapters register their health checks when their Layer is built (and unregister when it closes). */
export class HealthChecks extends Context.Tag("effect-microservice/HealthChecks")<
  HealthChecks,
  {
    readonly register: (check: HealthCheck) => Effect.Effect<void, never, Scope.Scope>
    /** Runs every registered check concurrently, each bounded by `timeout`. */
    readonly runAll: (timeout: Duration.DurationInput) => Effect.Effect<ReadonlyArray<HealthResult>>
  }
>() {}
