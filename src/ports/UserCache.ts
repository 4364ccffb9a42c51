import type { Effect, Option } from "effect"
import { Context } from "effect"
import type { DependencyUnavailable } from "../domain/errors.js"
import type { User, UserId } from "../domain/User.js"

/**
 * A cache of users in front of the repository (cache-aside). Callers treat every failure as a miss:
 * the cache may lose entries at any time and must never be the only copy.
 */
export class UserCache extends Context.Tag("effect-microservice/UserCache")<
  UserCache,
  {
    readonly get: (id: UserId) => Effect.Effect<Option.Option<User>, DependencyUnavailable>
    readonly set: (user: User) => Effect.Effect<void, DependencyUnavailable>
    readonly invalidate: (id: UserId) => Effect.Effect<void, DependencyUnavailable>
  }
>() {}
