import { assert, describe, it } from "@effect/vitest"
import { Cause, Deferred, Duration, Effect, Exit, Fiber, Layer, Metric, Option } from "effect"
import { HealthChecksLive } from "../../src/adapters/health/HealthChecks.js"
import { MemoryUserCacheLive } from "../../src/adapters/memory/MemoryUserCache.js"
import { coalescedLookups } from "../../src/app/UserLoader.js"
import { Users } from "../../src/app/Users.js"
import type { UserId } from "../../src/domain/User.js"
import type { UserCache } from "../../src/ports/UserCache.js"
import { UserRepository } from "../../src/ports/UserRepository.js"
import { instrumented } from "../support/instrumented.js"
import { pollUntil } from "../support/poll.js"
import { HarnessRedisCache } from "../support/TestRedis.js"

const memoryCache = MemoryUserCacheLive({ maxEntries: 1000, ttl: Duration.minutes(1) }).pipe(
  Layer.provide(HealthChecksLive)
)

const seed = Array.from({ length: 120 }, (_, i) => ({ name: `User ${i + 1}`, email: `user${i + 1}@example.com` }))

const usersOn = (tools: ReturnType<typeof instrumented>, cache: Layer.Layer<UserCache, unknown> = memoryCache) =>
  Users.Default.pipe(Layer.provide(tools.repository), Layer.provide(tools.countCache(cache)))

describe("UserLoader", () => {
  it.live("100 concurrent lookups of one uncached id make one cache round trip and one query", () => {
    const tools = instrumented(seed)
    return Effect.gen(function* () {
      const users = yield* Users
      const names = yield* Effect.forEach(Array.from({ length: 100 }), () => users.get(7n), {
        concurrency: "unbounded"
      })
      assert.isTrue(names.every((user) => user.name === "User 7"))
      assert.strictEqual(tools.stats.queries.length, 1)
      assert.strictEqual(tools.stats.cacheRoundTrips, 1)
      yield* users.get(7n)
      assert.strictEqual(tools.stats.queries.length, 1, "the next read is a cache hit")
    }).pipe(Effect.provide(usersOn(tools)))
  })

  it.live("100 concurrent lookups of distinct uncached ids share one round trip and one query", () => {
    const tools = instrumented(seed)
    return Effect.gen(function* () {
      const users = yield* Users
      const found = yield* Effect.forEach(
        Array.from({ length: 100 }, (_, i) => BigInt(i + 1)),
        (id) => users.get(id),
        {
          concurrency: "unbounded"
        }
      )
      assert.deepStrictEqual(
        found.map((u) => u.name),
        seed.slice(0, 100).map((u) => u.name)
      )
      assert.strictEqual(tools.stats.queries.length, 1)
      assert.strictEqual(tools.stats.queries[0]?.length, 100)
      assert.strictEqual(tools.stats.cacheRoundTrips, 1)
    }).pipe(Effect.provide(usersOn(tools)))
  })

  it.live("counts the lookups that joined a load in flight", () => {
    const tools = instrumented(seed)
    return Effect.gen(function* () {
      const users = yield* Users
      const before = (yield* Metric.value(coalescedLookups)).count
      yield* Effect.forEach(Array.from({ length: 10 }), () => users.get(8n), { concurrency: "unbounded" })
      assert.strictEqual((yield* Metric.value(coalescedLookups)).count - before, 9)
    }).pipe(Effect.provide(usersOn(tools)))
  })

  it.live("with negative caching, repeated lookups of a missing id stay away from the repository", () => {
    const tools = instrumented(seed)
    const negative = MemoryUserCacheLive({
      maxEntries: 100,
      ttl: Duration.minutes(1),
      negativeTtl: Duration.seconds(30)
    })
    return Effect.gen(function* () {
      const users = yield* Users
      for (let i = 0; i < 3; i++) assert.strictEqual((yield* Effect.flip(users.get(4040n)))._tag, "UserNotFound")
      assert.strictEqual(tools.stats.queries.length, 1)
    }).pipe(Effect.provide(usersOn(tools, negative.pipe(Layer.provide(HealthChecksLive)))))
  })

  it.live("unknown ids in a batch fail alone with UserNotFound", () => {
    const tools = instrumented(seed)
    return Effect.gen(function* () {
      const users = yield* Users
      const [known, unknown] = yield* Effect.all([Effect.exit(users.get(3n)), Effect.exit(users.get(9999n))], {
        concurrency: "unbounded"
      })
      assert.isTrue(Exit.isSuccess(known))
      const error = Exit.isFailure(unknown) ? Cause.failureOption(unknown.cause) : Option.none()
      assert.deepStrictEqual(
        Option.map(error, (e) => `${e._tag}: ${e.message}`),
        Option.some("UserNotFound: user 9999 not found")
      )
      assert.strictEqual(tools.stats.queries.length, 1)
    }).pipe(Effect.provide(usersOn(tools)))
  })

  it.live("a shared load goes on while one caller remains, and is interrupted when the last one leaves", () => {
    const tools = instrumented(seed)
    return Effect.gen(function* () {
      const users = yield* Users
      const { gate, started } = yield* tools.hold
      const first = yield* Effect.fork(users.get(5n))
      const second = yield* Effect.fork(users.get(5n))
      yield* Deferred.await(started)
      yield* Fiber.interrupt(first)
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual((yield* Fiber.join(second)).name, "User 5")

      const { started: startedAgain } = yield* tools.hold
      const lone = yield* Effect.fork(users.get(6n))
      yield* Deferred.await(startedAgain)
      yield* Fiber.interrupt(lone)
      // Interrupted, not answered: the next lookup starts a new load rather than joining a dead one.
      yield* Effect.fork(users.get(6n))
      yield* pollUntil(
        Effect.sync(() => tools.stats.queries.length),
        (n) => n === 3,
        "2 seconds"
      )
    }).pipe(Effect.provide(usersOn(tools)))
  })

  it.live("a lookup that arrives while an abandoned load is being interrupted is answered, not cancelled", () => {
    const tools = instrumented(seed)
    return Effect.gen(function* () {
      const users = yield* Users
      // The query cannot be stopped at once (a cancel in flight): its interruption waits for the gate.
      const { gate, started } = yield* tools.holdWith({ uninterruptibly: true })
      const lone = yield* Effect.fork(users.get(8n))
      yield* Deferred.await(started)
      yield* Fiber.interrupt(lone)
      // The only caller has gone, and the load is being stopped. A new caller of the same id must not join it.
      const late = yield* Effect.fork(users.get(8n))
      yield* pollUntil(
        Effect.sync(() => tools.stats.queries.length),
        (n) => n === 2,
        "2 seconds"
      )
      yield* Deferred.succeed(gate, undefined)
      const exit = yield* Fiber.await(late)
      // An Exit is an Effect: a failure here fails the test with its cause.
      assert.strictEqual((yield* exit).name, "User 8")
    }).pipe(Effect.provide(usersOn(tools)))
  })
})

// A reader misses and reads the row; before its fill lands, a writer commits and invalidates. The late fill
// must not put the old row back. Without leases this leaves "User 1" cached after the rename.
const readerRacingWriter = (cacheName: string, cache: Layer.Layer<UserCache, unknown>) =>
  it.live(`a reader racing a writer never leaves a stale entry (${cacheName})`, () => {
    const tools = instrumented(seed)
    return Effect.gen(function* () {
      const users = yield* Users
      const { gate, started } = yield* tools.hold
      const reader = yield* Effect.fork(users.get(1n))
      yield* Deferred.await(started)
      yield* users.update({ id: 1n, name: "Renamed" })
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual((yield* Fiber.join(reader)).name, "User 1") // it began before the write
      for (let i = 0; i < 3; i++) assert.strictEqual((yield* users.get(1n)).name, "Renamed")
    }).pipe(Effect.provide(usersOn(tools, cache)))
  })

describe("cache-aside under concurrent writes", () => {
  readerRacingWriter("in-process", memoryCache)
  readerRacingWriter("Redis", HarnessRedisCache())

  it.live("interleaved reads and updates end with the cache agreeing with the database (Redis)", () => {
    const tools = instrumented(seed)
    return Effect.gen(function* () {
      const users = yield* Users
      const ids = [11n, 12n, 13n]
      for (let round = 0; round < 40; round++) {
        yield* Effect.all(
          [
            ...ids.flatMap((id) => [users.get(id), users.get(id)]),
            users.update({ id: ids[round % 3] ?? 11n, name: `R${round}` }),
            Effect.sleep(Duration.millis(round % 4)).pipe(Effect.zipRight(users.get(ids[(round + 1) % 3] ?? 11n)))
          ],
          { concurrency: "unbounded", discard: true }
        )
      }
      const repository = yield* UserRepository
      for (const id of ids) {
        const stored = yield* repository.findById(id as UserId)
        assert.strictEqual((yield* users.get(id)).name, stored._tag === "Some" ? stored.value.name : "?")
      }
    }).pipe(Effect.provide(Layer.merge(usersOn(tools, HarnessRedisCache()), tools.repository)))
  })
})
