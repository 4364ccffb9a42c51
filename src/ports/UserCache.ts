import type { Effect, Option } from "effect"
import { Brand, Context } from "effect"
import type { DependencyUnavailable } from "../domain/errors.js"
import type { User, UserId } from "../domain/User.js"

/**
 * Proof of when a miss was seen. A fill made with it is dropped if the id was invalidated since, so a reader
 * that raced a writer can never put back the value the writer replaced.
 */
export type CacheLease = string & Brand.Brand<"CacheLease">
export const CacheLease = Brand.nominal<CacheLease>()

export type CacheLookup =
  | { readonly _tag: "Hit"; readonly user: User }
  /** A cached "no such user" (negative caching, when enabled). */
  | { readonly _tag: "Absent" }
  | { readonly _tag: "Miss"; readonly lease: CacheLease }

export interface CacheFill {
  readonly id: UserId
  /** None: the user does not exist (stored only when negative caching is on). */
  readonly user: Option.Option<User>
  readonly lease: CacheLease
}

/**
 * A cache of users in front of the repository (cache-aside). Callers treat every failure as a miss: the cache
 * may lose entries at any time and is never the only copy.
 */
export class UserCache extends Context.Tag("effect-microservice/UserCache")<
  UserCache,
  {
    /** One round trip for all ids; every id is in the result. */
    readonly getMany: (
      ids: ReadonlyArray<UserId>
    ) => Effect.Effect<ReadonlyMap<UserId, CacheLookup>, DependencyUnavailable>
    /** Stores each entry unless its id was invalidated after its lease was taken. */
    readonly fill: (entries: ReadonlyArray<CacheFill>) => Effect.Effect<void, DependencyUnavailable>
    /** Removes the entry and voids every lease taken before: call after the write has committed. */
    readonly invalidate: (id: UserId) => Effect.Effect<void, DependencyUnavailable>
  }
>() {}
