import { Config, Duration, Effect, Layer, Metric, Option } from "effect"
import { LRUCache } from "lru-cache"
import type { User, UserId } from "../../domain/User.js"
import { HealthChecks } from "../../ports/HealthChecks.js"
import { CacheLease, type CacheLookup, UserCache } from "../../ports/UserCache.js"
import { cacheMetrics } from "../cache/CacheMetrics.js"
import { duration, intInRange } from "../config/Settings.js"

export interface MemoryUserCacheOptions {
  /** The least recently used entries are dropped beyond this many. */
  readonly maxEntries: number
  readonly ttl: Duration.DurationInput
  /** How long "no such user" is remembered; 0 turns negative caching off. */
  readonly negativeTtl?: Duration.DurationInput
}

type Entry = { readonly user: User } | { readonly absent: true }

/**
 * An in-process, bounded LRU cache with a TTL: the default when no Redis is configured.
 *
 * Leases: every invalidation takes the next number of one sequence and is remembered (boundedly) per id; a
 * lease is the sequence at the time of the miss. A fill is refused when its id was invalidated after the lease,
 * or when the lease predates an invalidation record that had to be forgotten (the low-water mark), so the
 * bookkeeping stays bounded without ever letting a stale fill through.
 */
export const MemoryUserCacheLive = (options: MemoryUserCacheOptions) =>
  Layer.scoped(
    UserCache,
    Effect.gen(function* () {
      const metrics = cacheMetrics("memory")
      // In the process: it is up whenever the service is. Registered so readiness lists every cache alike.
      yield* (yield* HealthChecks).register({ name: "cache", critical: false, check: Effect.void })
      return makeCache(options, metrics)
    })
  )

const makeCache = (options: MemoryUserCacheOptions, metrics: ReturnType<typeof cacheMetrics>) => {
  const entries = new LRUCache<UserId, Entry>({ max: options.maxEntries, ttl: Duration.toMillis(options.ttl) })
  const negativeTtl = Duration.toMillis(options.negativeTtl ?? 0)
  let sequence = 0
  let lowWaterMark = 0
  const invalidatedAt = new LRUCache<UserId, number>({
    max: options.maxEntries,
    dispose: (seq, _id, reason) => {
      if (reason === "evict") lowWaterMark = Math.max(lowWaterMark, seq)
    }
  })
  const leaseOf = (seq: number) => CacheLease(String(seq))

  const lookup = (id: UserId): CacheLookup => {
    const entry = entries.get(id)
    if (entry === undefined) return { _tag: "Miss", lease: leaseOf(sequence) }
    return "user" in entry ? { _tag: "Hit", user: entry.user } : { _tag: "Absent" }
  }

  return UserCache.of({
    getMany: (ids) =>
      Effect.sync(() => new Map(ids.map((id) => [id, lookup(id)] as const))).pipe(
        Effect.tap((found) => {
          const hits = [...found.values()].filter((entry) => entry._tag !== "Miss").length
          return Effect.zipRight(
            Metric.incrementBy(metrics.hits, hits),
            Metric.incrementBy(metrics.misses, ids.length - hits)
          )
        }),
        Effect.withSpan("UserCache.getMany", { attributes: { "cache.keys": ids.length } })
      ),
    fill: (fills) =>
      Effect.sync(() => {
        for (const { id, user, lease } of fills) {
          const seq = Number(lease)
          if (seq < lowWaterMark || (invalidatedAt.get(id) ?? -1) > seq) continue
          if (Option.isSome(user)) entries.set(id, { user: user.value })
          else if (negativeTtl > 0) entries.set(id, { absent: true }, { ttl: negativeTtl })
        }
      }).pipe(Effect.withSpan("UserCache.fill")),
    invalidate: (id) =>
      Effect.sync(() => {
        invalidatedAt.set(id, ++sequence)
        entries.delete(id)
      }).pipe(Effect.withSpan("UserCache.invalidate"))
  })
}

export const config = Config.all({
  maxEntries: intInRange("CACHE_MAX_ENTRIES", 1, 10_000_000).pipe(Config.withDefault(10_000)),
  ttl: duration("CACHE_TTL").pipe(Config.withDefault(Duration.seconds(60))),
  negativeTtl: duration("CACHE_NEGATIVE_TTL").pipe(Config.withDefault(Duration.zero))
})

export const layerConfig = Layer.unwrapEffect(Effect.map(config, MemoryUserCacheLive))
