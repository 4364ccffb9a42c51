import { Effect, Option } from "effect"
import { type DependencyUnavailable, UserNotFound } from "../domain/errors.js"
import { decodePageToken, encodePageToken, pageSize } from "../domain/Page.js"
import { Email, type User, UserId, UserName, type UserPatch } from "../domain/User.js"
import { validateField } from "../domain/Validation.js"
import { UserCache } from "../ports/UserCache.js"
import { UserRepository } from "../ports/UserRepository.js"

export interface UserPage {
  readonly users: ReadonlyArray<User>
  /** Empty when this is the last page. */
  readonly nextPageToken: string
}

/** User use cases. Reads go cache → repository → cache set; writes go repository → cache invalidation. */
export class Users extends Effect.Service<Users>()("effect-microservice/Users", {
  effect: Effect.gen(function* () {
    const repository = yield* UserRepository
    const cache = yield* UserCache

    // The cache is an optimisation: its failures are logged and the request goes on without it.
    const cacheFailOpen = <A>(operation: string, effect: Effect.Effect<A, DependencyUnavailable>, fallback: A) =>
      effect.pipe(
        Effect.catchAll((error) =>
          Effect.logWarning("cache call failed; continuing without the cache").pipe(
            Effect.annotateLogs({ operation, error: error.message }),
            Effect.as(fallback)
          )
        )
      )

    const findById = Effect.fn("Users.findById")(function* (id: UserId) {
      yield* Effect.annotateCurrentSpan("user.id", String(id))
      const cached = yield* cacheFailOpen("get", cache.get(id), Option.none<User>())
      if (Option.isSome(cached)) return cached.value
      const found = yield* repository.findById(id)
      if (Option.isNone(found)) return yield* new UserNotFound({ id })
      yield* cacheFailOpen("set", cache.set(found.value), undefined)
      return found.value
    })

    const invalidate = (id: UserId) => cacheFailOpen("invalidate", cache.invalidate(id), undefined)

    const get = Effect.fn("Users.get")(function* (rawId: bigint) {
      return yield* findById(yield* validateField(UserId, "id")(rawId))
    })

    const list = Effect.fn("Users.list")(function* (request: {
      readonly pageSize: number
      readonly pageToken: string
    }) {
      const size = yield* pageSize(request.pageSize)
      const afterId = yield* decodePageToken(request.pageToken)
      // One extra row tells whether another page follows.
      const rows = yield* repository.list({ afterId, limit: size + 1 })
      const users = rows.slice(0, size)
      const last = users.at(-1)
      return { users, nextPageToken: rows.length > size && last ? encodePageToken(last.id) : "" } satisfies UserPage
    })

    const create = Effect.fn("Users.create")(function* (request: { readonly name: string; readonly email: string }) {
      const name = yield* validateField(UserName, "name")(request.name)
      const email = yield* validateField(Email, "email")(request.email)
      return yield* repository.insert({ name, email })
    })

    const update = Effect.fn("Users.update")(function* (request: {
      readonly id: bigint
      readonly name?: string | undefined
      readonly email?: string | undefined
    }) {
      const id = yield* validateField(UserId, "id")(request.id)
      const patch: UserPatch = {
        name: request.name === undefined ? undefined : yield* validateField(UserName, "name")(request.name),
        email: request.email === undefined ? undefined : yield* validateField(Email, "email")(request.email)
      }
      if (patch.name === undefined && patch.email === undefined) return yield* findById(id)
      const updated = yield* repository.update(id, patch)
      yield* invalidate(id)
      if (Option.isNone(updated)) return yield* new UserNotFound({ id })
      return updated.value
    })

    const remove = Effect.fn("Users.delete")(function* (rawId: bigint) {
      const id = yield* validateField(UserId, "id")(rawId)
      const deleted = yield* repository.delete(id)
      yield* invalidate(id)
      if (!deleted) return yield* new UserNotFound({ id })
    })

    return { findById, get, list, create, update, delete: remove } as const
  })
}) {}
