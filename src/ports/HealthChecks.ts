import type { Duration, Effect, Scope } from "effect"
import { Context } from "effect"

export interface HealthCheck {
  readonly name: string
  /**
   * Succeeds when the dependency answers. The caller bounds it (HEALTH_CHECK_TIMEOUT) and answers at the bound without
   * waiting for the check to stop. Fail with an error whose message or `cause` chain names the real cause: it is
   * shown with describeError (src/domain/describeError.ts).
   */
  readonly check: Effect.Effect<void, unknown>
  /** Whether the service is unready when this check fails (a database is; a cache, by default, is not). */
  readonly critical: boolean
}

export interface HealthResult {
  readonly name: string
  readonly critical: boolean
  readonly ok: boolean
  /** When not ok, the failure's real cause in one line, without credentials (describeError). */
  readonly error?: string
  readonly durationMs: number
}

/** Where adapters register their health checks when their Layer is built (and unregister when it closes). */
export class HealthChecks extends Context.Tag("effect-microservice/HealthChecks")<
  HealthChecks,
  {
    readonly register: (check: HealthCheck) => Effect.Effect<void, never, Scope.Scope>
    /** Runs every registered check concurrently, each bounded by `timeout`: it answers within `timeout`, whatever a check does. */
    readonly runAll: (timeout: Duration.DurationInput) => Effect.Effect<ReadonlyArray<HealthResult>>
  }
>() {}
