import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Option } from "effect"
import { MemoryUserCacheLive } from "../../src/adapters/memory/MemoryUserCache.js"
import { MemoryUserRepositoryLive } from "../../src/adapters/memory/MemoryUserRepository.js"
import { User, UserId } from "../../src/domain/User.js"
import { UserCache } from "../../src/ports/UserCache.js"
import { pollUntil } from "../support/poll.js"
import { userCacheContract } from "./UserCache.contract.js"
import { userRepositoryContract } from "./UserRepository.contract.js"

userRepositoryContract("in-memory", MemoryUserRepositoryLive())
userCacheContract("in-process LRU", MemoryUserCacheLive({ maxEntries: 100, ttl: Duration.minutes(1) }))

const user = (id: bigint) => new User({ id: UserId.make(id), name: `U${id}`, email: `u${id}@example.com` })

describe("in-process cache bounds", () => {
  it.live("drops the least recently used entry beyond CACHE_MAX_ENTRIES", () =>
    Effect.gen(function* () {
      const cache = yield* UserCache
      yield* cache.set(user(1n))
      yield* cache.set(user(2n))
      yield* cache.get(UserId.make(1n))
      yield* cache.set(user(3n))
      assert.isTrue(Option.isSome(yield* cache.get(UserId.make(1n))))
      assert.isTrue(Option.isNone(yield* cache.get(UserId.make(2n))))
      assert.isTrue(Option.isSome(yield* cache.get(UserId.make(3n))))
    }).pipe(Effect.provide(MemoryUserCacheLive({ maxEntries: 2, ttl: Duration.minutes(1) })))
  )

  it.live("forgets entries after the TTL", () =>
    Effect.gen(function* () {
      const cache = yield* UserCache
      yield* cache.set(user(1n))
      assert.isTrue(Option.isSome(yield* cache.get(UserId.make(1n))))
      // The entry must be gone well within a second (polled, not slept).
      yield* pollUntil(cache.get(UserId.make(1n)), Option.isNone, "1 second")
    }).pipe(Effect.provide(MemoryUserCacheLive({ maxEntries: 10, ttl: Duration.millis(50) })))
  )
})
