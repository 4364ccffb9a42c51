import { assert, layer } from "@effect/vitest"
import { Effect, type Layer, Option } from "effect"
import { User, UserId } from "../../src/domain/User.js"
import { UserCache } from "../../src/ports/UserCache.js"

const user = (id: bigint, name: string) =>
  new User({ id: UserId.make(id), name, email: `${name.toLowerCase()}@example.com` })

/** What every UserCache adapter must do. */
export const userCacheContract = <E>(name: string, adapter: Layer.Layer<UserCache, E>) =>
  layer(adapter, { timeout: "60 seconds", excludeTestServices: true })(`UserCache contract: ${name}`, (it) => {
    it.effect("a miss is none; set then get returns an equal user", () =>
      Effect.gen(function* () {
        const cache = yield* UserCache
        assert.isTrue(Option.isNone(yield* cache.get(UserId.make(101n))))
        const ada = user(101n, "Ada")
        yield* cache.set(ada)
        assert.deepStrictEqual(yield* cache.get(ada.id), Option.some(ada))
      })
    )

    it.effect("set replaces the entry; invalidate removes it", () =>
      Effect.gen(function* () {
        const cache = yield* UserCache
        yield* cache.set(user(102n, "Old"))
        yield* cache.set(user(102n, "New"))
        assert.deepStrictEqual(
          Option.map(yield* cache.get(UserId.make(102n)), (u) => u.name),
          Option.some("New")
        )
        yield* cache.invalidate(UserId.make(102n))
        assert.isTrue(Option.isNone(yield* cache.get(UserId.make(102n))))
        yield* cache.invalidate(UserId.make(102n))
      })
    )

    it.effect("keeps ids beyond 2^53 apart", () =>
      Effect.gen(function* () {
        const cache = yield* UserCache
        const a = user(2n ** 53n + 1n, "Big")
        const b = user(2n ** 53n + 2n, "Bigger")
        yield* cache.set(a)
        yield* cache.set(b)
        assert.deepStrictEqual(yield* cache.get(a.id), Option.some(a))
        assert.deepStrictEqual(yield* cache.get(b.id), Option.some(b))
      })
    )
  })
