import type { Effect, Option } from "effect"
import { Context } from "effect"
import type { EmailTaken, StorageError } from "../domain/errors.js"
import type { NewUser, User, UserId, UserPatch } from "../domain/User.js"

/**
 * Durable storage of users. Inputs are already validated; every method fails only as named: StorageError says
 * whether the store is unavailable (DependencyUnavailable) or refused the data (InvalidArgument, FailedPrecondition).
 */
export class UserRepository extends Context.Tag("effect-microservice/UserRepository")<
  UserRepository,
  {
    readonly findById: (id: UserId) => Effect.Effect<Option.Option<User>, StorageError>
    /** The users that exist among `ids`, in one query, in no particular order. */
    readonly findByIds: (ids: ReadonlyArray<UserId>) => Effect.Effect<ReadonlyArray<User>, StorageError>
    /** Up to `limit` users with id greater than `afterId`, in ascending id order. */
    readonly list: (options: {
      readonly afterId: UserId | undefined
      readonly limit: number
    }) => Effect.Effect<ReadonlyArray<User>, StorageError>
    readonly insert: (user: NewUser) => Effect.Effect<User, EmailTaken | StorageError>
    /** The updated user, or none when no user has this id. */
    readonly update: (id: UserId, patch: UserPatch) => Effect.Effect<Option.Option<User>, EmailTaken | StorageError>
    /** Whether a user was deleted. */
    readonly delete: (id: UserId) => Effect.Effect<boolean, StorageError>
  }
>() {}
