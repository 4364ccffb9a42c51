import type { Duration, Effect, Option } from "effect"
import { Context } from "effect"
import type { EmailTaken, StorageError, WriteError } from "../domain/errors.js"
import type { IdempotencyKey } from "../domain/Idempotency.js"
import type { NewUser, User, UserId, UserPatch } from "../domain/User.js"

/**
 * How a write really ended, told to `WriteOptions.settled`:
 * - Applied: the store applied it (or had applied it before, for a repeated idempotency key), with its result;
 * - NotApplied: the store refused it or never received it, and never will apply it;
 * - Unknown: the connection was lost after it was sent: the store may have applied it, or may still, but no
 *   later than `within` from now.
 */
export type WriteEnd<A> =
  | { readonly _tag: "Applied"; readonly value: A }
  | { readonly _tag: "NotApplied" }
  | { readonly _tag: "Unknown"; readonly within: Duration.Duration }

export interface WriteOptions<A> {
  /**
   * Makes the write safe to retry: the store records the key with the result, in the write's own transaction, and
   * a write with a key it holds (for the same request) is not applied again: it answers the recorded result. The
   * same key with a different request fails with InvalidArgument.
   */
  readonly idempotencyKey?: IdempotencyKey | undefined
  /**
   * Runs once the write has really ended, whether or not its caller is still waiting: also when the caller left
   * or got WriteOutcomeUnknown first (a database that answers late). Not called for a write never sent.
   */
  readonly settled?: ((end: WriteEnd<A>) => Effect.Effect<void>) | undefined
}

/**
 * Durable storage of users. Inputs are already validated; every method fails only as named: StorageError says
 * whether the store is unavailable (DependencyUnavailable) or refused the data (InvalidArgument, FailedPrecondition);
 * a write may also fail with WriteOutcomeUnknown (sent, and then the answer was lost).
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
    readonly insert: (user: NewUser, options?: WriteOptions<User>) => Effect.Effect<User, EmailTaken | WriteError>
    /** The updated user, or none when no user has this id. */
    readonly update: (
      id: UserId,
      patch: UserPatch,
      options?: WriteOptions<Option.Option<User>>
    ) => Effect.Effect<Option.Option<User>, EmailTaken | WriteError>
    /** Whether a user was deleted. */
    readonly delete: (id: UserId, options?: WriteOptions<boolean>) => Effect.Effect<boolean, WriteError>
  }
>() {}
