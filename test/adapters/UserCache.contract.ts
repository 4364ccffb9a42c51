import { assert, layer } from "@effect/vitest"
import { Effect, type Layer, Option } from "effect"
import { Email, User, UserId, UserName } from "../../src/domain/User.js"
import { type CacheLease, type CacheLookup, UserCache } from "../../src/ports/UserCache.js"

let next = 1_000_000n + BigInt(process.pid) * 1000n
/** An id no other test of this run uses (suites may share one Redis). */
export const freshId = () => UserId.make(next++)
const user = (id: UserId, name: string) =>
  new User({ id, name: UserName.make(name), email: Email.make(`${name.toLowerCase()}@example.com`) })

export const lookup = (id: UserId) =>
  Effect.flatMap(UserCache, (cache) => cache.getMany([id])).pipe(
    Effect.map((found): CacheLookup => found.get(id) ?? { _tag: "Absent" })
  )

export const leaseOf = (id: UserId) =>
  Effect.flatMap(lookup(id), (found) =>
    found._tag === "Miss" ? Effect.succeed(found.lease) : Effect.dieMessage(`expected a miss, got ${found._tag}`)
  )

export const fill = (id: UserId, value: User | undefined, lease: CacheLease) =>
  Effect.flatMap(UserCache, (cache) => cache.fill([{ id, user: Option.fromNullable(value), lease }]))

const nameOf = (found: CacheLookup) => (found._tag === "Hit" ? found.user.name : found._tag)

/**
 * What every UserCache adapter must do. `negativeCaching`: whether the adapter under test was built with a
 * negative TTL (then a missing user is remembered as Absent).
 */
export const userCacheContract = <E>(name: string, adapter: Layer.Layer<UserCache, E>, negativeCaching = false) =>
  layer(adapter, { timeout: "60 seconds", excludeTestServices: true })(`UserCache contract: ${name}`, (it) => {
    it.effect("a miss, then a fill with its lease, then a hit with an equal user", () =>
      Effect.gen(function* () {
        const id = freshId()
        const lease = yield* leaseOf(id)
        const ada = user(id, "Ada")
        yield* fill(id, ada, lease)
        const found = yield* lookup(id)
        assert.strictEqual(found._tag, "Hit")
        assert.deepStrictEqual(found._tag === "Hit" ? found.user : undefined, ada)
      })
    )

    it.effect("getMany answers every id in one call: hits and misses", () =>
      Effect.gen(function* () {
        const [a, b, c] = [freshId(), freshId(), freshId()]
        yield* fill(a, user(a, "A"), yield* leaseOf(a))
        yield* fill(c, user(c, "C"), yield* leaseOf(c))
        const found = yield* Effect.flatMap(UserCache, (cache) => cache.getMany([a, b, c]))
        assert.deepStrictEqual(
          [a, b, c].map((id) => {
            const entry = found.get(id)
            return entry === undefined ? "none" : nameOf(entry)
          }),
          ["A", "Miss", "C"]
        )
      })
    )

    it.effect("invalidate removes the entry", () =>
      Effect.gen(function* () {
        const id = freshId()
        yield* fill(id, user(id, "Old"), yield* leaseOf(id))
        yield* Effect.flatMap(UserCache, (cache) => cache.invalidate(id))
        assert.strictEqual((yield* lookup(id))._tag, "Miss")
        yield* Effect.flatMap(UserCache, (cache) => cache.invalidate(id))
      })
    )

    it.effect("a fill whose lease predates an invalidation is dropped (a reader racing a writer)", () =>
      Effect.gen(function* () {
        const id = freshId()
        const lease = yield* leaseOf(id) // reader misses, goes to the database, reads the old row...
        yield* Effect.flatMap(UserCache, (cache) => cache.invalidate(id)) // ...a writer commits and invalidates...
        yield* fill(id, user(id, "Stale"), lease) // ...the reader's late fill must not land
        assert.strictEqual((yield* lookup(id))._tag, "Miss")
        const fresh = yield* leaseOf(id)
        yield* fill(id, user(id, "Fresh"), fresh)
        assert.strictEqual(nameOf(yield* lookup(id)), "Fresh")
      })
    )

    it.effect(
      negativeCaching
        ? "a missing user is remembered as Absent"
        : "a missing user is not remembered (negative caching off)",
      () =>
        Effect.gen(function* () {
          const id = freshId()
          yield* fill(id, undefined, yield* leaseOf(id))
          assert.strictEqual((yield* lookup(id))._tag, negativeCaching ? "Absent" : "Miss")
          if (negativeCaching) {
            yield* Effect.flatMap(UserCache, (cache) => cache.invalidate(id))
            assert.strictEqual((yield* lookup(id))._tag, "Miss")
          }
        })
    )

    it.effect("keeps ids beyond 2^53 apart", () =>
      Effect.gen(function* () {
        const a = UserId.make(2n ** 53n + 1n + BigInt(process.pid) * 10n)
        const b = UserId.make(a + 1n)
        yield* Effect.flatMap(UserCache, (cache) => Effect.all([cache.invalidate(a), cache.invalidate(b)]))
        yield* fill(a, user(a, "Big"), yield* leaseOf(a))
        yield* fill(b, user(b, "Bigger"), yield* leaseOf(b))
        assert.strictEqual(nameOf(yield* lookup(a)), "Big")
        assert.strictEqual(nameOf(yield* lookup(b)), "Bigger")
      })
    )
  })
