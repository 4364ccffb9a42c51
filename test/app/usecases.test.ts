import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import { HealthChecksLive } from "../../src/adapters/health/HealthChecks.js"
import { MemoryUserCacheLive } from "../../src/adapters/memory/MemoryUserCache.js"
import { MemoryUserRepositoryLive } from "../../src/adapters/memory/MemoryUserRepository.js"
import { Greeter } from "../../src/app/Greeter.js"
import { Users } from "../../src/app/Users.js"
import { type AppError, DependencyUnavailable } from "../../src/domain/errors.js"
import { UserId } from "../../src/domain/User.js"
import { UpstreamGreeter } from "../../src/ports/UpstreamGreeter.js"
import { UserCache } from "../../src/ports/UserCache.js"
import type { UserRepository } from "../../src/ports/UserRepository.js"
import { lookup } from "../adapters/UserCache.contract.js"
import { instrumented } from "../support/instrumented.js"
import { stub } from "../support/stub.js"

const seed = [
  { name: "Alice", email: "alice@example.com" },
  { name: "Bob", email: "bob@example.com" }
]
const cache = MemoryUserCacheLive({ maxEntries: 100, ttl: Duration.minutes(1) }).pipe(Layer.provide(HealthChecksLive))

const UseCases = (
  repository: Layer.Layer<UserRepository>,
  userCache: Layer.Layer<UserCache> = cache,
  upstream: Layer.Layer<UpstreamGreeter> = UpstreamGreeter.none
) =>
  Greeter.Default.pipe(
    Layer.provideMerge(Users.Default),
    Layer.provideMerge(repository),
    Layer.provide(userCache),
    Layer.provide(upstream)
  )

const errorOf = <A, E extends { readonly _tag: string; readonly message: string }, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flip(effect).pipe(Effect.map((e) => ({ tag: e._tag, message: e.message })))

describe("Greeter.sayHello", () => {
  it.effect("greets a stored user by name and returns the user", () =>
    Effect.gen(function* () {
      const reply = yield* (yield* Greeter).sayHello(1n)
      assert.strictEqual(reply.message, "Hello, Alice!")
      assert.deepStrictEqual({ ...reply.user }, { id: 1n, name: "Alice", email: "alice@example.com" })
    }).pipe(Effect.provide(UseCases(MemoryUserRepositoryLive(seed))))
  )

  it.effect("fails with UserNotFound for an unknown id, and InvalidArgument naming user_id for a bad one", () =>
    Effect.gen(function* () {
      const greeter = yield* Greeter
      assert.deepStrictEqual(yield* errorOf(greeter.sayHello(999n)), {
        tag: "UserNotFound",
        message: "user 999 not found"
      })
      for (const id of [0n, -5n]) {
        assert.deepStrictEqual(yield* errorOf(greeter.sayHello(id)), {
          tag: "InvalidArgument",
          message: "invalid user_id: must be a positive 64-bit integer"
        })
      }
    }).pipe(Effect.provide(UseCases(MemoryUserRepositoryLive(seed))))
  )

  it.effect("serves repeated reads from the cache", () => {
    const repository = instrumented(seed)
    return Effect.gen(function* () {
      const greeter = yield* Greeter
      yield* greeter.sayHello(2n)
      assert.strictEqual(repository.stats.queries.length, 1)
      yield* greeter.sayHello(2n)
      yield* (yield* Users).get(2n)
      assert.strictEqual(repository.stats.queries.length, 1)
      yield* greeter.sayHello(1n)
      assert.strictEqual(repository.stats.queries.length, 2)
    }).pipe(Effect.provide(UseCases(repository.repository)))
  })

  it.effect("keeps answering from the repository when every cache call fails", () =>
    Effect.gen(function* () {
      const reply = yield* (yield* Greeter).sayHello(1n)
      assert.strictEqual(reply.message, "Hello, Alice!")
      const updated = yield* (yield* Users).update({ id: 1n, name: "Alicia" })
      assert.strictEqual(updated.name, "Alicia")
    }).pipe(
      Effect.provide(
        UseCases(
          MemoryUserRepositoryLive(seed),
          stub(UserCache, {
            getMany: () => Effect.fail(new DependencyUnavailable({ dependency: "cache", operation: "getMany" })),
            fill: () => Effect.fail(new DependencyUnavailable({ dependency: "cache", operation: "fill" })),
            invalidate: () => Effect.fail(new DependencyUnavailable({ dependency: "cache", operation: "invalidate" }))
          })
        )
      )
    )
  )
})

describe("Greeter with an upstream Greeter", () => {
  it.effect("asks the upstream first, with the same user id", () => {
    const asked: Array<bigint> = []
    const upstream = Layer.succeed(UpstreamGreeter, {
      sayHello: (id) => Effect.sync(() => void asked.push(id))
    })
    return Effect.gen(function* () {
      assert.strictEqual((yield* (yield* Greeter).sayHello(2n)).message, "Hello, Bob!")
      assert.deepStrictEqual(asked, [2n])
    }).pipe(Effect.provide(UseCases(MemoryUserRepositoryLive(seed), cache, upstream)))
  })

  it.effect("fails with the upstream's error, before reading anything itself", () => {
    const repository = instrumented(seed)
    const upstream = Layer.succeed(UpstreamGreeter, {
      sayHello: () => Effect.fail(new DependencyUnavailable({ dependency: "upstream", operation: "sayHello" }))
    })
    return Effect.gen(function* () {
      const error = yield* Effect.flip((yield* Greeter).sayHello(1n))
      assert.strictEqual(error._tag, "DependencyUnavailable")
      assert.strictEqual(repository.stats.queries.length, 0)
    }).pipe(Effect.provide(UseCases(repository.repository, cache, upstream)))
  })
})

describe("Users", () => {
  const layer = () => UseCases(MemoryUserRepositoryLive(seed))

  it.effect("creates, reads, updates and deletes a user", () =>
    Effect.gen(function* () {
      const users = yield* Users
      const created = yield* users.create({ name: "  Carol ", email: "carol@example.com" })
      assert.strictEqual(created.name, "Carol")
      assert.deepStrictEqual(yield* users.get(created.id), created)
      const renamed = yield* users.update({ id: created.id, name: "Caroline" })
      assert.deepStrictEqual({ ...renamed }, { id: created.id, name: "Caroline", email: "carol@example.com" })
      const moved = yield* users.update({ id: created.id, email: "caroline@example.com" })
      assert.strictEqual(moved.email, "caroline@example.com")
      assert.strictEqual((yield* users.get(created.id)).email, "caroline@example.com")
      yield* users.delete({ id: created.id })
      assert.deepStrictEqual(yield* errorOf(users.get(created.id)), {
        tag: "UserNotFound",
        message: `user ${created.id} not found`
      })
      assert.strictEqual((yield* errorOf(users.delete({ id: created.id }))).tag, "UserNotFound")
    }).pipe(Effect.provide(layer()))
  )

  it.effect("invalidates the cache on update and delete, so reads never see the old user", () =>
    Effect.gen(function* () {
      const users = yield* Users
      const cached = Effect.map(lookup(UserId.make(2n)), (found) => found._tag)
      yield* users.get(2n)
      assert.strictEqual(yield* cached, "Hit")
      yield* users.update({ id: 2n, name: "Robert" })
      assert.strictEqual(yield* cached, "Miss")
      assert.strictEqual((yield* users.get(2n)).name, "Robert")
      yield* users.delete({ id: 2n })
      assert.strictEqual(yield* cached, "Miss")
      assert.strictEqual((yield* errorOf(users.get(2n))).tag, "UserNotFound")
    }).pipe(Effect.provide(UseCases(MemoryUserRepositoryLive(seed)).pipe(Layer.provideMerge(cache))))
  )

  it.effect("rejects bad input with InvalidArgument naming the field, before touching storage", () =>
    Effect.gen(function* () {
      const users = yield* Users
      const cases: ReadonlyArray<readonly [Effect.Effect<unknown, AppError>, string]> = [
        [users.create({ name: "", email: "x@example.com" }), "invalid name: must not be empty"],
        [users.create({ name: "x".repeat(26), email: "x@example.com" }), "invalid name: must be at most 25 characters"],
        [users.create({ name: "Dan", email: "not-an-email" }), "invalid email: must be a valid email address"],
        [users.update({ id: 1n, email: "nope" }), "invalid email: must be a valid email address"],
        [users.update({ id: 0n, name: "Dan" }), "invalid id: must be a positive 64-bit integer"],
        [users.get(-1n), "invalid id: must be a positive 64-bit integer"],
        [users.list({ pageSize: 101, pageToken: "" }), "invalid page_size: must be between 1 and 100"],
        [users.list({ pageSize: 10, pageToken: "garbage" }), "invalid page_token: is not a token returned by ListUsers"]
      ]
      for (const [effect, message] of cases) {
        assert.deepStrictEqual(yield* errorOf(effect), { tag: "InvalidArgument", message })
      }
    }).pipe(Effect.provide(layer()))
  )

  it.effect("fails with EmailTaken when the email belongs to another user", () =>
    Effect.gen(function* () {
      const users = yield* Users
      assert.deepStrictEqual(yield* errorOf(users.create({ name: "Eve", email: "alice@example.com" })), {
        tag: "EmailTaken",
        message: "email alice@example.com is already taken"
      })
      assert.strictEqual((yield* errorOf(users.update({ id: 2n, email: "alice@example.com" }))).tag, "EmailTaken")
      // Keeping one's own email is not a conflict.
      assert.strictEqual((yield* users.update({ id: 1n, email: "alice@example.com" })).email, "alice@example.com")
    }).pipe(Effect.provide(layer()))
  )

  it.effect("pages through users in id order with opaque tokens", () =>
    Effect.gen(function* () {
      const users = yield* Users
      yield* users.create({ name: "Carol", email: "carol@example.com" })
      const first = yield* users.list({ pageSize: 2, pageToken: "" })
      assert.deepStrictEqual(
        first.users.map((u) => u.name),
        ["Alice", "Bob"]
      )
      assert.notStrictEqual(first.nextPageToken, "")
      const second = yield* users.list({ pageSize: 2, pageToken: first.nextPageToken })
      assert.deepStrictEqual(
        second.users.map((u) => u.name),
        ["Carol"]
      )
      assert.strictEqual(second.nextPageToken, "")
    }).pipe(Effect.provide(layer()))
  )
})
