import { assert, layer } from "@effect/vitest"
import { Effect, type Layer, Option } from "effect"
import { Email, MAX_USER_ID, UserId, UserName } from "../../src/domain/User.js"
import { UserRepository } from "../../src/ports/UserRepository.js"

let unique = 0
const email = (name: string) => Email.make(`${name}.${process.pid}.${++unique}@example.com`)

/** What every UserRepository adapter must do, whatever it stores in. */
export const userRepositoryContract = <E>(name: string, adapter: Layer.Layer<UserRepository, E>) =>
  layer(adapter, { timeout: "60 seconds", excludeTestServices: true })(`UserRepository contract: ${name}`, (it) => {
    it.effect("insert assigns a new id, and findById returns the same user", () =>
      Effect.gen(function* () {
        const repository = yield* UserRepository
        const ada = yield* repository.insert({ name: UserName.make("Ada"), email: email("ada") })
        const grace = yield* repository.insert({ name: UserName.make("Grace"), email: email("grace") })
        assert.isTrue(grace.id > ada.id)
        assert.deepStrictEqual(yield* repository.findById(ada.id), Option.some(ada))
      })
    )

    it.effect("findById of an unknown id is none, for ids beyond 2^53 too", () =>
      Effect.gen(function* () {
        const repository = yield* UserRepository
        for (const id of [999_999_999n, 2n ** 53n + 1n, MAX_USER_ID]) {
          assert.isTrue(Option.isNone(yield* repository.findById(UserId.make(id))))
        }
      })
    )

    it.effect("findByIds returns the users that exist among the ids, in one call", () =>
      Effect.gen(function* () {
        const repository = yield* UserRepository
        const a = yield* repository.insert({ name: UserName.make("Ann"), email: email("ann") })
        const b = yield* repository.insert({ name: UserName.make("Ben"), email: email("ben") })
        const found = yield* repository.findByIds([a.id, UserId.make(MAX_USER_ID), b.id])
        assert.deepStrictEqual(
          found.map((u) => u.id).sort((x, y) => (x < y ? -1 : 1)),
          [a.id, b.id]
        )
        assert.deepStrictEqual(yield* repository.findByIds([]), [])
      })
    )

    it.effect("insert fails with EmailTaken when the email exists", () =>
      Effect.gen(function* () {
        const repository = yield* UserRepository
        const taken = email("taken")
        yield* repository.insert({ name: UserName.make("First"), email: taken })
        const error = yield* Effect.flip(repository.insert({ name: UserName.make("Second"), email: taken }))
        assert.strictEqual(error._tag, "EmailTaken")
      })
    )

    it.effect("update changes only the given fields, and is none for an unknown id", () =>
      Effect.gen(function* () {
        const repository = yield* UserRepository
        const user = yield* repository.insert({ name: UserName.make("Linus"), email: email("linus") })
        const renamed = yield* repository.update(user.id, { name: UserName.make("Linux") })
        assert.deepStrictEqual(
          Option.map(renamed, (u) => ({ ...u })),
          Option.some({ ...user, name: "Linux" })
        )
        const newEmail = email("linux")
        const moved = yield* repository.update(user.id, { email: newEmail })
        assert.deepStrictEqual(
          Option.map(moved, (u) => ({ ...u })),
          Option.some({ ...user, name: "Linux", email: newEmail })
        )
        assert.isTrue(
          Option.isNone(yield* repository.update(UserId.make(MAX_USER_ID), { name: UserName.make("Nobody") }))
        )
      })
    )

    it.effect("update fails with EmailTaken when another user has the email", () =>
      Effect.gen(function* () {
        const repository = yield* UserRepository
        const first = yield* repository.insert({ name: UserName.make("One"), email: email("one") })
        const second = yield* repository.insert({ name: UserName.make("Two"), email: email("two") })
        const error = yield* Effect.flip(repository.update(second.id, { email: first.email }))
        assert.strictEqual(error._tag, "EmailTaken")
        assert.deepStrictEqual(yield* repository.findById(second.id), Option.some(second))
      })
    )

    it.effect("delete removes the user once", () =>
      Effect.gen(function* () {
        const repository = yield* UserRepository
        const user = yield* repository.insert({ name: UserName.make("Temp"), email: email("temp") })
        assert.isTrue(yield* repository.delete(user.id))
        assert.isTrue(Option.isNone(yield* repository.findById(user.id)))
        assert.isFalse(yield* repository.delete(user.id))
      })
    )

    it.effect("list returns users after an id, in ascending id order, up to a limit", () =>
      Effect.gen(function* () {
        const repository = yield* UserRepository
        // A user of its own before L1, so that L1's id is at least 2 and the id just below it is a valid UserId
        // even when this test runs first on an empty store.
        yield* repository.insert({ name: UserName.make("L0"), email: email("l0") })
        const inserted = [
          yield* repository.insert({ name: UserName.make("L1"), email: email("l1") }),
          yield* repository.insert({ name: UserName.make("L2"), email: email("l2") }),
          yield* repository.insert({ name: UserName.make("L3"), email: email("l3") })
        ]
        const [l1, l2, l3] = inserted.map((u) => u.id)
        const before = UserId.make((l1 ?? 1n) - 1n)
        const page = yield* repository.list({ afterId: before, limit: 2 })
        assert.deepStrictEqual(
          page.map((u) => u.id),
          [l1, l2]
        )
        const rest = yield* repository.list({ afterId: l2, limit: 10 })
        assert.deepStrictEqual(
          rest.map((u) => u.id),
          [l3]
        )
        const all = yield* repository.list({ afterId: undefined, limit: 1000 })
        assert.deepStrictEqual(
          all.map((u) => u.id),
          [...all.map((u) => u.id)].sort((a, b) => (a < b ? -1 : 1))
        )
      })
    )
  })
