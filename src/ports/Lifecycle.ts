import { Context, type Effect, type Stream } from "effect"

export type Phase = "starting" | "running" | "shutting-down"

export interface Readiness {
  /** ready: every check passes; degraded: only non-critical checks fail (still serving); unready: not serving. */
  readonly status: "ready" | "degraded" | "unready"
  readonly details: Readonly<Record<string, string>>
  readonly phase: Phase
}

/**
 * The one health model behind /livez, /readyz, /startupz and grpc.health.v1: where the service is in its life
 * (starting, running, shutting down) and what its dependencies' checks say.
 */
export class Lifecycle extends Context.Tag("effect-microservice/Lifecycle")<
  Lifecycle,
  {
    /** Marks one startup step done; the service runs once every step is. */
    readonly started: (step: string) => Effect.Effect<void>
    /** Steps still pending (empty once running). */
    readonly pendingSteps: Effect.Effect<ReadonlyArray<string>>
    readonly phase: Effect.Effect<Phase>
    /** Unready from now on: the first thing a shutdown does. */
    readonly beginShutdown: Effect.Effect<void>
    readonly readiness: Effect.Effect<Readiness>
    /** Readiness now and at every change (re-evaluated on every phase change and every cache period). */
    readonly readinessChanges: Stream.Stream<Readiness>
    /**
     * Readiness without waiting, for probes answered in the turn they arrive: the phase is read now; while running,
     * the last check results (refreshed in the background once older than the cache period). Undefined until the
     * checks have run once: then `readiness` answers.
     */
    readonly readinessNow: () => Readiness | undefined
  }
>() {}
