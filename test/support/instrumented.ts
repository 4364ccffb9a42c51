import { Deferred, Effect, Layer } from "effect"
import { MemoryUserRepositoryLive } from "../../src/adapters/memory/MemoryUserRepository.js"
import type { UserId } from "../../src/domain/User.js"
import { UserCache } from "../../src/ports/UserCache.js"
import { UserRepository } from "../../src/ports/UserRepository.js"

/**
 * An in-memory repository seeded with `seed` that counts its batched reads (one SQL query each in the Postgres
 * adapter) and can hold them at a gate; and a wrapper that counts a cache's round trips.
 */
export const instrumented = (seed: ReadonlyArray<{ readonly name: string; readonly email: string }>) => {
  const stats = { queries: [] as Array<ReadonlyArray<UserId>>, cacheRoundTrips: 0 }
  let gate: Deferred.Deferred<void> | undefined
  let started: Deferred.Deferred<void> | undefined
  let stubborn = false
  const repository = Layer.effect(
    UserRepository,
    Effect.map(UserRepository, (inner) =>
      UserRepository.of({
        ...inner,
        // Reads the rows now, then waits at the gate (when one is set) before answering: a slow query that
        // returns what the database held when it ran.
        findByIds: (ids) =>
          Effect.gen(function* () {
            stats.queries.push(ids)
            const rows = yield* inner.findByIds(ids)
            if (started) yield* Deferred.succeed(started, undefined)
            if (gate) yield* stubborn ? Effect.uninterruptible(Deferred.await(gate)) : Deferred.await(gate)
            return rows
          })
      })
    )
  ).pipe(Layer.provide(MemoryUserRepositoryLive(seed)))
  const countCache = (cache: Layer.Layer<UserCache, unknown>) =>
    Layer.effect(
      UserCache,
      Effect.map(UserCache, (inner) =>
        UserCache.of({
          ...inner,
          getMany: (ids) =>
            Effect.zipRight(
              Effect.sync(() => stats.cacheRoundTrips++),
              inner.getMany(ids)
            )
        })
      )
    ).pipe(Layer.provide(cache))
  /** Holds the next reads at a gate; `uninterruptibly`: an interruption of the read waits for the gate too. */
  const holdWith = (options: { readonly uninterruptibly: boolean }) =>
    Effect.gen(function* () {
      gate = yield* Deferred.make<void>()
      started = yield* Deferred.make<void>()
      stubborn = options.uninterruptibly
      return { gate, started }
    })
  const hold = holdWith({ uninterruptibly: false })
  return { stats, repository, countCache, hold, holdWith }
}
