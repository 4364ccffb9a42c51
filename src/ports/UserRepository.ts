import type { Effect, Option } from "effect"
import { Context } from "effect"
import type { DependencyUnavailable, EmailTaken } from "../domain/errors.js"
import type { NewUser, User, UserId, UserPatch } from "../domain/User.js"

/** Durable storage of users. Inputs are already validated; every method fails only as named. */
export class UserRepository extends Context.Tag("effect-microservice/UserRepository")<
  UserRepository,
  {
    readonly findById: (id: UserId) => Effect.Effect<Option.Option<User>, DependencyUnavailable>
    /** The users that exist among `ids`, in one query, in no particular order. */
    readonly findByIds: (ids: ReadonlyArray<UserId>) => Effect.Effect<ReadonlyArray<User>, DependencyUnavailable>
    /** Up to `limit` users with id greater than `afterId`, in ascending id order. */
    readonly list: (options: {
      readonly afterId: UserId | undefined
      readonly limit: number
    }) => Effect.Effect<ReadonlyArray<User>, DependencyUnavailable>
    readonly insert: (user: NewUser) => Effect.Effect<User, EmailTaken | DependencyUnavailable>
    /** The updated user, or none when no user has this id. */
    readonly update: (
      id: UserId,
      patch: UserPatch
    ) => Effect.Effect<Option.Option<User>, EmailTaken | DependencyUnavailable>
    /** Whether a user was deleted. */
    readonly delete: (id: UserId) => Effect.Effect<boolean, DependencyUnavailable>
  }
>() {}
