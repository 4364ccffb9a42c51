import { assert, layer } from "@effect/vitest"
import { Context, Duration, Effect, Layer, Metric, type MetricState } from "effect"
import { Redis } from "ioredis"
import { cacheMetrics } from "../../src/adapters/cache/CacheMetrics.js"
import { Email, User, UserId, UserName } from "../../src/domain/User.js"
import { HealthChecks } from "../../src/ports/HealthChecks.js"
import { UserCache } from "../../src/ports/UserCache.js"
import { HarnessRedisCache, harnessRedisUrl } from "../support/TestRedis.js"
import { fill, freshId, leaseOf, lookup, userCacheContract } from "./UserCache.contract.js"

userCacheContract("Redis", HarnessRedisCache())
userCacheContract("Redis with negative caching", HarnessRedisCache({ negativeTtl: Duration.seconds(30) }), true)

const prefix = `test:${process.pid}:raw:`
/** A plain client on the same Redis, to look at what the adapter stored. */
class RawRedis extends Context.Tag("test/RawRedis")<RawRedis, Redis>() {}

const Raw = Layer.scoped(
  RawRedis,
  Effect.flatMap(harnessRedisUrl, (url) =>
    Effect.acquireRelease(
      Effect.sync(() => new Redis(url)),
      (client) => Effect.promise(() => client.quit())
    )
  )
)

const counterValue = (counter: Metric.Metric.Counter<number>) =>
  Metric.value(counter).pipe(Effect.map((state: MetricState.MetricState.Counter<number>) => state.count))

layer(Layer.merge(HarnessRedisCache({ keyPrefix: prefix }), Raw), { excludeTestServices: true, timeout: "30 seconds" })(
  "Redis adapter",
  (it) => {
    const raw = RawRedis

    it.effect("stores users as JSON under <prefix>user:<id> with a TTL of 60 s ± 10 %", () =>
      Effect.gen(function* () {
        const client = yield* raw
        const id = freshId()
        yield* fill(
          id,
          new User({ id, name: UserName.make("Ada"), email: Email.make("ada@example.com") }),
          yield* leaseOf(id)
        )
        assert.deepStrictEqual(JSON.parse((yield* Effect.promise(() => client.get(`${prefix}user:${id}`))) ?? "null"), {
          id: String(id),
          name: "Ada",
          email: "ada@example.com"
        })
        const ttl = yield* Effect.promise(() => client.pttl(`${prefix}user:${id}`))
        assert.isAtLeast(ttl, 53_000)
        assert.isAtMost(ttl, 66_000)
      })
    )

    it.effect('reads the Go service\'s format ({"id":1,...}) as a hit', () =>
      Effect.gen(function* () {
        const client = yield* raw
        const id = freshId()
        yield* Effect.promise(() =>
          client.set(`${prefix}user:${id}`, JSON.stringify({ id: Number(id), name: "Go", email: "go@example.com" }))
        )
        const found = yield* lookup(id)
        assert.strictEqual(found._tag === "Hit" ? found.user.name : found._tag, "Go")
      })
    )

    it.effect("a corrupt or old-shaped value is a miss: deleted and counted, never an error", () =>
      Effect.gen(function* () {
        const client = yield* raw
        const before = yield* counterValue(cacheMetrics("redis").corrupt)
        const [a, b] = [freshId(), freshId()]
        yield* Effect.promise(() => client.set(`${prefix}user:${a}`, "{not json"))
        yield* Effect.promise(() => client.set(`${prefix}user:${b}`, JSON.stringify({ userId: 1, fullName: "x" })))
        const found = yield* Effect.flatMap(UserCache, (cache) => cache.getMany([a, b]))
        assert.deepStrictEqual(
          [a, b].map((id) => found.get(id)?._tag),
          ["Miss", "Miss"]
        )
        assert.strictEqual(yield* Effect.promise(() => client.exists(`${prefix}user:${a}`, `${prefix}user:${b}`)), 0)
        assert.strictEqual((yield* counterValue(cacheMetrics("redis").corrupt)) - before, 2)
      })
    )

    it.effect("registers a non-critical 'cache' health check that PINGs Redis", () =>
      Effect.gen(function* () {
        const results = yield* Effect.flatMap(HealthChecks, (checks) => checks.runAll("1 second"))
        const cache = results.find((r) => r.name === "cache")
        assert.strictEqual(cache?.ok, true)
        assert.strictEqual(cache?.critical, false)
      })
    )

    it.effect("large ids stay exact in keys", () =>
      Effect.gen(function* () {
        const client = yield* raw
        const id = UserId.make(9_007_199_254_740_993n)
        yield* Effect.flatMap(UserCache, (cache) => cache.invalidate(id))
        yield* fill(
          id,
          new User({ id, name: UserName.make("Big"), email: Email.make("big@example.com") }),
          yield* leaseOf(id)
        )
        assert.strictEqual(yield* Effect.promise(() => client.exists(`${prefix}user:9007199254740993`)), 1)
      })
    )
  }
)
