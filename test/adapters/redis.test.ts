import { assert, layer } from "@effect/vitest"
import { Context, Duration, Effect, Layer, Metric, type MetricState, Option } from "effect"
import { Redis } from "ioredis"
import { cacheMetrics } from "../../src/adapters/cache/CacheMetrics.js"
import { Email, User, UserId, UserName } from "../../src/domain/User.js"
import { HealthChecks } from "../../src/ports/HealthChecks.js"
import { CacheLease, UserCache } from "../../src/ports/UserCache.js"
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

/**
 * What the Go service's `json.Unmarshal([]byte(cached), &u)` into model.User makes of a value: keys matched ignoring
 * case, ID an unsigned integer (a string or fraction there fails the whole decode: Go then serves a zero user).
 */
const goUnmarshalUser = (text: string) => {
  const value: Record<string, unknown> = JSON.parse(text)
  const get = (name: string) => Object.entries(value).find(([key]) => key.toLowerCase() === name.toLowerCase())?.[1]
  const id = /"id"\s*:\s*(\d+)\s*[,}]/i.exec(text)?.[1]
  if (typeof get("ID") !== "number" || id === undefined) throw new Error(`Go cannot decode ID of ${text}`)
  const [name, email] = [get("Name"), get("Email")]
  if (typeof name !== "string" || typeof email !== "string") throw new Error(`Go cannot decode ${text}`)
  return { ID: BigInt(id), Name: name, Email: email }
}

const counterValue = (counter: Metric.Metric.Counter<number>) =>
  Metric.value(counter).pipe(Effect.map((state: MetricState.MetricState.Counter<number>) => state.count))

layer(Layer.merge(HarnessRedisCache({ keyPrefix: prefix, negativeTtl: Duration.seconds(30) }), Raw), {
  excludeTestServices: true,
  timeout: "30 seconds"
})("Redis adapter", (it) => {
  const raw = RawRedis

  it.effect("stores users in the Go service's JSON under <prefix>user:<id> with a TTL of 60 s ± 10 %", () =>
    Effect.gen(function* () {
      const client = yield* raw
      const id = freshId()
      yield* fill(
        id,
        new User({ id, name: UserName.make("Ada"), email: Email.make("ada@example.com") }),
        yield* leaseOf(id)
      )
      const stored = (yield* Effect.promise(() => client.get(`${prefix}user:${id}`))) ?? "null"
      assert.deepStrictEqual(goUnmarshalUser(stored), { ID: id, Name: "Ada", Email: "ada@example.com" })
      const ttl = yield* Effect.promise(() => client.pttl(`${prefix}user:${id}`))
      assert.isAtLeast(ttl, 53_000)
      assert.isAtMost(ttl, 66_000)
    })
  )

  it.effect(
    'reads the Go service\'s format ({"ID":1,"Name":...,"CreatedAt":...}) and its own earlier one as hits',
    () =>
      Effect.gen(function* () {
        const client = yield* raw
        const [go, zeroTime, noUpdatedAt, earlier] = [freshId(), freshId(), freshId(), freshId()]
        const values: Array<[UserId, string]> = [
          // json.Marshal(model.User): Go field names, a numeric id, RFC 3339 times with nanoseconds.
          [
            go,
            `{"ID":${go},"Name":"Go","Email":"go@example.com","CreatedAt":"2024-01-01T00:00:00.123456789Z","UpdatedAt":"2024-01-02T10:00:00.5+02:00"}`
          ],
          [
            zeroTime,
            `{"ID":${zeroTime},"Name":"Zero","Email":"zero@example.com","CreatedAt":"0001-01-01T00:00:00Z","UpdatedAt":"0001-01-01T00:00:00Z"}`
          ],
          [
            noUpdatedAt,
            `{"ID":${noUpdatedAt},"Name":"Partial","Email":"partial@example.com","CreatedAt":"2024-01-01T00:00:00Z"}`
          ],
          [earlier, JSON.stringify({ id: String(earlier), name: "Earlier", email: "earlier@example.com" })]
        ]
        for (const [id, value] of values) yield* Effect.promise(() => client.set(`${prefix}user:${id}`, value))
        const found = yield* Effect.flatMap(UserCache, (cache) => cache.getMany(values.map(([id]) => id)))
        assert.deepStrictEqual(
          values.map(([id]) => {
            const hit = found.get(id)
            return hit?._tag === "Hit" ? [hit.user.id, String(hit.user.name)] : hit?._tag
          }),
          [
            [go, "Go"],
            [zeroTime, "Zero"],
            [noUpdatedAt, "Partial"],
            [earlier, "Earlier"]
          ]
        )
        // An id beyond 2^53 stays exact through a JSON number.
        const large = UserId.make(9_007_199_254_740_995n)
        yield* Effect.flatMap(UserCache, (cache) => cache.invalidate(large))
        yield* Effect.promise(() =>
          client.set(`${prefix}user:${large}`, `{"ID":${large},"Name":"Big","Email":"big@example.com"}`)
        )
        const bigHit = yield* lookup(large)
        assert.strictEqual(bigHit._tag === "Hit" ? bigHit.user.id : bigHit._tag, large)
      })
  )

  it.effect("an absent id is marked beside user:<id>, never in it (the Go service would read a mark as a user)", () =>
    Effect.gen(function* () {
      const client = yield* raw
      const id = freshId()
      yield* Effect.flatMap(UserCache, (cache) => cache.fill([{ id, user: Option.none(), lease: CacheLease("") }]))
      assert.strictEqual((yield* lookup(id))._tag, "Absent")
      assert.strictEqual(yield* Effect.promise(() => client.exists(`${prefix}user:${id}`)), 0)
      // The Go service fills user:<id> without knowing of the mark: its value is served.
      yield* Effect.promise(() =>
        client.set(`${prefix}user:${id}`, `{"ID":${id},"Name":"Late","Email":"late@example.com"}`)
      )
      const after = yield* lookup(id)
      assert.strictEqual(after._tag === "Hit" ? after.user.name : after._tag, "Late")
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
})
