import { Context, Effect } from "effect"

/**
 * Completes when a second stop signal asks to cut the shutdown short; never by default (tests, tools). Whatever
 * waits during the stop for something that may take long (the gRPC drain, SHUTDOWN_DELAY) races it. The signal
 * handling that completes it is the composition root's (src/main/Signals.ts).
 */
export class DrainCutShort extends Context.Reference<DrainCutShort>()("effect-microservice/DrainCutShort", {
  defaultValue: (): { readonly await: Effect.Effect<void> } => ({ await: Effect.never })
}) {}

/** `effect`, ended early (with undefined) by a second stop signal. Usable in a finalizer (it is made interruptible). */
export const untilCutShort = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A | undefined, E, R> =>
  Effect.flatMap(DrainCutShort, (cut) =>
    Effect.raceFirst(Effect.interruptible(effect), Effect.interruptible(Effect.as(cut.await, undefined)))
  )
