import { Duration, Effect } from "effect"

/** Re-runs `effect` until `done` holds for its result, failing after `within`: a bounded wait, never a sleep. */
export const pollUntil = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  done: (a: A) => boolean,
  within: Duration.DurationInput = "5 seconds",
  every: Duration.DurationInput = "20 millis"
): Effect.Effect<A, E | Error, R> => {
  const loop: Effect.Effect<A, E, R> = Effect.flatMap(effect, (a) =>
    done(a)
      ? Effect.succeed(a)
      : Effect.zipRight(
          Effect.sleep(every),
          Effect.suspend(() => loop)
        )
  )
  return loop.pipe(
    Effect.timeoutFail({
      duration: within,
      onTimeout: () => new Error(`condition not met within ${Duration.format(Duration.decode(within))}`)
    })
  )
}
