import { Effect, Option } from "effect"
import { UserNotFound } from "../domain/errors.js"
import { decodePageToken, encodePageToken, pageSize } from "../domain/Page.js"
import { Email, type User, UserId, UserName, type UserPatch } from "../domain/User.js"
import { validateField } from "../domain/Validation.js"
import { UserCache } from "../ports/UserCache.js"
import { UserRepository } from "../ports/UserRepository.js"
import { hotSpan } from "./Span.js"
import { makeUserLoader } from "./UserLoader.js"

export interface UserPage {
  readonly users: ReadonlyArray<User>
  /** Empty when this is the last page. */
  readonly nextPageToken: string
}

/**
 * User use cases. Reads go cache → repository → cache fill (through the loader, which coalesces and batches);
 * writes go repository → cache invalidation.
 */
export class Users extends Effect.Service<Users>()("effect-microservice/Users", {
  effect: Effect.gen(function* () {
    const repository = yield* UserRepository
    const cache = yield* UserCache
    const loader = yield* makeUserLoader
    const validId = validateField(UserId, "id")

    const findById = (id: UserId) =>
      Effect.flatMap(loader.findById(id), (found) =>
        Option.isSome(found) ? Effect.succeed(found.value) : Effect.fail(new UserNotFound({ id }))
      ).pipe(hotSpan("Users.findById", { attributes: { "user.id": String(id) } }))

    // After a committed write. The cache is an optimisation: a failure here is logged, not returned, and the
    // entry's TTL bounds how long another reader can see the old value.
    const invalidate = (id: UserId) =>
      cache
        .invalidate(id)
        .pipe(
          Effect.catchAll((error) =>
            Effect.logWarning("cache invalidation failed; the entry expires with its TTL").pipe(
              Effect.annotateLogs({ user_id: String(id), error: error.message })
            )
          )
        )

    const get = Effect.fn("Users.get")(function* (rawId: bigint) {
      return yield* findById(yield* validId(rawId))
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
      const id = yield* validId(request.id)
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
      const id = yield* validId(rawId)
      const deleted = yield* repository.delete(id)
      yield* invalidate(id)
      if (!deleted) return yield* new UserNotFound({ id })
    })

    return { findById, get, list, create, update, delete: remove } as const
  })
}) {}
