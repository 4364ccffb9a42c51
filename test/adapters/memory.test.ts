import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import { HealthChecksLive } from "../../src/adapters/health/HealthChecks.js"
import { MemoryAuditLogLive } from "../../src/adapters/memory/MemoryAuditLog.js"
import { MemoryUserCacheLive } from "../../src/adapters/memory/MemoryUserCache.js"
import { MemoryUserRepositoryLive } from "../../src/adapters/memory/MemoryUserRepository.js"
import { Email, User, UserId, UserName } from "../../src/domain/User.js"
import { UserCache } from "../../src/ports/UserCache.js"
import { pollUntil } from "../support/poll.js"
import { auditLogContract } from "./AuditLog.contract.js"
import { fill, leaseOf, lookup, userCacheContract } from "./UserCache.contract.js"
import { userRepositoryContract } from "./UserRepository.contract.js"

userRepositoryContract("in-memory", MemoryUserRepositoryLive())
auditLogContract("in-memory", MemoryAuditLogLive)
userCacheContract(
  "in-process LRU",
  MemoryUserCacheLive({ maxEntries: 100, ttl: Duration.minutes(1) }).pipe(Layer.provide(HealthChecksLive))
)
userCacheContract(
  "in-process LRU with negative caching",
  MemoryUserCacheLive({ maxEntries: 100, ttl: Duration.minutes(1), negativeTtl: Duration.seconds(30) }).pipe(
    Layer.provide(HealthChecksLive)
  ),
  true
)

const user = (id: bigint) =>
  new User({ id: UserId.make(id), name: UserName.make(`U${id}`), email: Email.make(`u${id}@example.com`) })
const put = (id: bigint) => Effect.flatMap(leaseOf(UserId.make(id)), (lease) => fill(UserId.make(id), user(id), lease))
const tag = (id: bigint) => Effect.map(lookup(UserId.make(id)), (found) => found._tag)

describe("in-process cache bounds", () => {
  it.live("drops the least recently used entry beyond CACHE_MAX_ENTRIES", () =>
    Effect.gen(function* () {
      yield* put(1n)
      yield* put(2n)
      yield* tag(1n)
      yield* put(3n)
      assert.deepStrictEqual([yield* tag(1n), yield* tag(2n), yield* tag(3n)], ["Hit", "Miss", "Hit"])
    }).pipe(
      Effect.provide(
        MemoryUserCacheLive({ maxEntries: 2, ttl: Duration.minutes(1) }).pipe(Layer.provide(HealthChecksLive))
      )
    )
  )

  it.live("forgets entries after the TTL", () =>
    Effect.gen(function* () {
      yield* put(1n)
      assert.strictEqual(yield* tag(1n), "Hit")
      yield* pollUntil(tag(1n), (t) => t === "Miss", "1 second")
    }).pipe(
      Effect.provide(
        MemoryUserCacheLive({ maxEntries: 10, ttl: Duration.millis(50) }).pipe(Layer.provide(HealthChecksLive))
      )
    )
  )

  it.live("refuses a stale fill even after the invalidation record was evicted", () =>
    Effect.gen(function* () {
      const cache = yield* UserCache
      const lease = yield* leaseOf(UserId.make(1n))
      yield* cache.invalidate(UserId.make(1n))
      // Two more invalidations push the record for id 1 out of a bookkeeping bounded to 2 entries.
      yield* cache.invalidate(UserId.make(2n))
      yield* cache.invalidate(UserId.make(3n))
      yield* fill(UserId.make(1n), user(1n), lease)
      assert.strictEqual(yield* tag(1n), "Miss")
    }).pipe(
      Effect.provide(
        MemoryUserCacheLive({ maxEntries: 2, ttl: Duration.minutes(1) }).pipe(Layer.provide(HealthChecksLive))
      )
    )
  )
})
