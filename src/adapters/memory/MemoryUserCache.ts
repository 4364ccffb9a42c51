import { Duration, Effect, Layer, Option } from "effect"
import { LRUCache } from "lru-cache"
import type { User, UserId } from "../../domain/User.js"
import { UserCache } from "../../ports/UserCache.js"

export interface MemoryUserCacheOptions {
  /** The least recently used entries are dropped beyond this many. */
  readonly maxEntries: number
  readonly ttl: Duration.DurationInput
}

/** An in-process, bounded LRU cache with a TTL: the default when no Redis is configured. */
export const MemoryUserCacheLive = (options: MemoryUserCacheOptions) =>
  Layer.sync(UserCache, () => {
    const entries = new LRUCache<UserId, User>({ max: options.maxEntries, ttl: Duration.toMillis(options.ttl) })
    return UserCache.of({
      get: (id) => Effect.sync(() => Option.fromNullable(entries.get(id))).pipe(Effect.withSpan("UserCache.get")),
      set: (user) => Effect.sync(() => void entries.set(user.id, user)).pipe(Effect.withSpan("UserCache.set")),
      invalidate: (id) => Effect.sync(() => void entries.delete(id)).pipe(Effect.withSpan("UserCache.invalidate"))
    })
  })
