import { Duration, Effect, Option, Schedule } from "effect"
import { UserNotFound } from "../domain/errors.js"
import { IdempotencyKey } from "../domain/Idempotency.js"
import { decodePageToken, encodePageToken, pageSize } from "../domain/Page.js"
import { Email, type User, UserId, UserName, type UserPatch } from "../domain/User.js"
import { validateField } from "../domain/Validation.js"
import { UserCache } from "../ports/UserCache.js"
import { UserRepository, type WriteEnd } from "../ports/UserRepository.js"
import { mayChange, mayList, mayRead } from "./Ownership.js"
import { hotSpan } from "./Span.js"
import { makeUserLoader } from "./UserLoader.js"

/** While a write's end is unknown (it may still be applied), its user's cache entry is invalidated this often. */
const UNKNOWN_WRITE_INVALIDATE_EVERY = Duration.millis(250)

/** Every write may carry an idempotency key (see domain/Idempotency.ts): a retry with it is applied at most once. */
export interface Keyed {
  readonly idempotencyKey?: string | undefined
}

export interface UserPage {
  readonly users: ReadonlyArray<User>
  /** Empty when this is the last page. */
  readonly nextPageToken: string
}

/**
 * User use cases. Reads go cache → repository → cache fill (through the loader, which coalesces and batches);
 * writes invalidate the user's cache entry before they are sent (voiding the fills of reads in progress) and again
 * when they have really ended, whether or not the caller is still there (the repository's `settled`).
 */
export class Users extends Effect.Service<Users>()("effect-microservice/Users", {
  effect: Effect.gen(function* () {
    const repository = yield* UserRepository
    const cache = yield* UserCache
    const loader = yield* makeUserLoader
    const validId = validateField(UserId, "id")

    // Each use case first asks whether this caller may (app/Ownership.ts: nothing to check with auth off).
    const findById = (id: UserId) =>
      Effect.zipRight(
        mayRead(id),
        Effect.flatMap(loader.findById(id), (found) =>
          Option.isSome(found) ? Effect.succeed(found.value) : Effect.fail(new UserNotFound({ id }))
        )
      ).pipe(hotSpan("Users.findById", { attributes: { "user.id": String(id) } }))

    const validKey = validateField(IdempotencyKey, "idempotency_key")
    const keyOf = (raw: string | undefined) => (raw === undefined ? Effect.succeed(undefined) : validKey(raw))

    // Around a write. The cache is an optimisation: a failure here is logged, not returned (the cache adapter
    // retries it in the background, and serves no entry it could not invalidate meanwhile).
    const invalidate = (id: UserId) =>
      cache.invalidate(id).pipe(
        Effect.catchAll((error) =>
          // Debug: during a cache outage every write would log it; the cache's own metrics and log say it once.
          Effect.logDebug("cache invalidation failed; the cache retries it in the background").pipe(
            Effect.annotateLogs({ user_id: String(id), error: error.message })
          )
        )
      )

    /**
     * When a write of user `id` has really ended: invalidate its entry again. A write whose end is unknown may still
     * be applied until `within` has passed: invalidate again and again until then, in the background, so no read
     * can keep the old value cached after it lands.
     */
    const settled =
      (id: UserId) =>
      (end: WriteEnd<unknown>): Effect.Effect<void> => {
        switch (end._tag) {
          case "Applied":
            return invalidate(id)
          case "NotApplied":
            return Effect.void
          case "Unknown":
            return invalidate(id).pipe(
              Effect.repeat(Schedule.spaced(UNKNOWN_WRITE_INVALIDATE_EVERY)),
              Effect.timeout(end.within),
              Effect.ignore,
              Effect.forkDaemon,
              Effect.asVoid
            )
        }
      }
    /** A create: the new user's id may have a cached "absent" (negative caching): it goes once the row exists. */
    const created = (end: WriteEnd<User>): Effect.Effect<void> =>
      end._tag === "Applied" ? invalidate(end.value.id) : Effect.void

    const get = Effect.fn("Users.get")(function* (rawId: bigint) {
      return yield* findById(yield* validId(rawId))
    })

    const list = Effect.fn("Users.list")(function* (request: {
      readonly pageSize: number
      readonly pageToken: string
    }) {
      yield* mayList
      const size = yield* pageSize(request.pageSize)
      const afterId = yield* decodePageToken(request.pageToken)
      // One extra row tells whether another page follows.
      const rows = yield* repository.list({ afterId, limit: size + 1 })
      const users = rows.slice(0, size)
      const last = users.at(-1)
      return { users, nextPageToken: rows.length > size && last ? encodePageToken(last.id) : "" } satisfies UserPage
    })

    const create = Effect.fn("Users.create")(function* (
      request: { readonly name: string; readonly email: string } & Keyed
    ) {
      const name = yield* validateField(UserName, "name")(request.name)
      const email = yield* validateField(Email, "email")(request.email)
      const idempotencyKey = yield* keyOf(request.idempotencyKey)
      return yield* repository.insert({ name, email }, { idempotencyKey, settled: created })
    })

    const update = Effect.fn("Users.update")(function* (
      request: {
        readonly id: bigint
        readonly name?: string | undefined
        readonly email?: string | undefined
      } & Keyed
    ) {
      const id = yield* validId(request.id)
      yield* mayChange(id)
      const idempotencyKey = yield* keyOf(request.idempotencyKey)
      const patch: UserPatch = {
        name: request.name === undefined ? undefined : yield* validateField(UserName, "name")(request.name),
        email: request.email === undefined ? undefined : yield* validateField(Email, "email")(request.email)
      }
      if (patch.name === undefined && patch.email === undefined) return yield* findById(id)
      yield* invalidate(id)
      const updated = yield* repository.update(id, patch, { idempotencyKey, settled: settled(id) })
      if (Option.isNone(updated)) return yield* new UserNotFound({ id })
      return updated.value
    })

    const remove = Effect.fn("Users.delete")(function* (request: { readonly id: bigint } & Keyed) {
      const id = yield* validId(request.id)
      yield* mayChange(id)
      const idempotencyKey = yield* keyOf(request.idempotencyKey)
      yield* invalidate(id)
      const deleted = yield* repository.delete(id, { idempotencyKey, settled: settled(id) })
      if (!deleted) return yield* new UserNotFound({ id })
    })

    return { findById, get, list, create, update, delete: remove } as const
  })
}) {}
