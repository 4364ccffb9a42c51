import { Config, Duration, Effect, Layer, Metric, Option, Redacted, Runtime, Schedule } from "effect"
import { Redis } from "ioredis"
import { LRUCache } from "lru-cache"
import { DependencyUnavailable } from "../../domain/errors.js"
import type { User, UserId } from "../../domain/User.js"
import { HealthChecks } from "../../ports/HealthChecks.js"
import { CacheLease, type CacheLookup, UserCache } from "../../ports/UserCache.js"
import { cacheMetrics } from "../cache/CacheMetrics.js"
import { dialAddress, duration, intInRange, ratio } from "../config/Settings.js"
import { BreakerOpen, makeCircuitBreaker } from "../resilience/CircuitBreaker.js"
import { decodeCachedUser, encodeCachedUser } from "./GoUserFormat.js"

export interface RedisUserCacheOptions {
  readonly host: string
  readonly port: number
  readonly password: Option.Option<Redacted.Redacted<string>>
  readonly db: number
  /** Opening a connection (REDIS_DIAL_TIMEOUT). */
  readonly connectTimeout: Duration.Duration
  /** A connection that answers nothing for this long after a command is dropped and reopened (REDIS_READ_TIMEOUT). */
  readonly socketTimeout: Duration.Duration
  /**
   * Go's REDIS_WRITE_TIMEOUT: Node sockets have no write deadline, so a connection stuck writing shows as one that
   * does not answer; it is added to `socketTimeout`, the bound a command's write and reply then share, as in Go.
   */
  readonly writeTimeout?: Duration.Duration | undefined
  /** The budget of each cache call (REDIS_COMMAND_TIMEOUT): past it the read goes to the database. */
  readonly commandTimeout: Duration.Duration
  readonly ttl: Duration.Duration
  /** 0.1: each entry lives ttl ± 10 %, so entries filled together do not expire together. */
  readonly ttlJitter: number
  /** 0 turns negative caching off. */
  readonly negativeTtl: Duration.Duration
  readonly keyPrefix: string
  readonly breakerThreshold: number
  readonly breakerResetAfter: Duration.Duration
}

// Values read again and again (a hot user) are decoded once: the last decoded value of each id is kept with the
// text it came from, and an identical text reuses it. Bounded: the least recently used entries go first.
const DECODED_MAX = 10_000
// A known-absent id is marked under its own key (user:<id>:absent), never under user:<id>, where the Go service
// would read the marker as a user.
const ABSENT = "1"

// Lease check and write in one step: store each entry only if the id's generation is what it was at the miss.
// KEYS: target1, gen1, target2, gen2, ... (the target: the value key, or the absent key)
// ARGV: expectedGen1, value1, ttlMs1, expectedGen2, ...
const FILL_SCRIPT = `
for i = 1, #KEYS / 2 do
  local gen = redis.call('GET', KEYS[2 * i]) or ''
  if gen == ARGV[3 * i - 2] then
    redis.call('SET', KEYS[2 * i - 1], ARGV[3 * i - 1], 'PX', ARGV[3 * i])
  end
end
return 1`

// Voids every lease taken before: bump the generation, then drop the value and the absent mark.
// KEYS: value, gen, absent. ARGV: gen TTL ms.
const INVALIDATE_SCRIPT = `
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1], KEYS[3])
return 1`

// A generation must outlive any lease taken before it changed: leases live for one request (seconds).
const GENERATION_TTL_MS = 10 * 60 * 1000
// Invalidations that failed (Redis down) are retried in the background this often; beyond this many the oldest
// go, and those entries fall back to their TTL.
const RETRY_PENDING_EVERY = Duration.millis(100)
const MAX_PENDING_INVALIDATIONS = 10_000

/**
 * UserCache on Redis (ioredis), chosen when REDIS_ADDR is set. Fails open, fast: each call has a small budget
 * (no offline queue, a command timeout), and after consecutive failures a breaker skips Redis until a probe
 * succeeds, so an outage adds no per-request delay. ioredis reconnects on its own; starting with Redis down is
 * fine. Registers a "cache" health check (PING), not critical by default.
 */
export const RedisUserCacheLive = (options: RedisUserCacheOptions) =>
  Layer.scoped(
    UserCache,
    Effect.gen(function* () {
      const metrics = cacheMetrics("redis")
      const budgetMs = Duration.toMillis(options.commandTimeout)
      const redis = yield* Effect.acquireRelease(
        Effect.sync(
          () =>
            new Redis({
              host: options.host,
              port: options.port,
              db: options.db,
              ...(Option.isSome(options.password) ? { password: Redacted.value(options.password.value) } : {}),
              connectTimeout: Duration.toMillis(options.connectTimeout),
              socketTimeout:
                Duration.toMillis(options.socketTimeout) + Duration.toMillis(options.writeTimeout ?? Duration.zero),
              commandTimeout: budgetMs,
              enableOfflineQueue: false,
              maxRetriesPerRequest: 0,
              autoResendUnfulfilledCommands: false,
              // Back within half a second of Redis: failed invalidations wait for it (see retryPending).
              retryStrategy: (attempt) => Math.min(attempt * 100, 500)
            })
        ),
        (client) =>
          Effect.promise(() => client.quit()).pipe(
            Effect.interruptible,
            Effect.timeout("1 second"),
            Effect.catchAllCause(() => Effect.sync(() => client.disconnect()))
          )
      )
      const log = Runtime.runFork(yield* Effect.runtime<never>())
      let connected = false
      // ioredis refuses commands while disconnected with "Stream isn't writeable": keep why it is disconnected.
      let lastError: Error | undefined
      redis.on("ready", () => {
        connected = true
        lastError = undefined
        log(Effect.logInfo("Redis connected").pipe(Effect.annotateLogs({ address: `${options.host}:${options.port}` })))
      })
      // ioredis emits an error per failed attempt; log the loss of the connection once.
      redis.on("error", (error: Error) => {
        lastError = error
        if (!connected) return
        connected = false
        log(
          Effect.logWarning("Redis connection lost; reads go to the database").pipe(
            Effect.annotateLogs({ error: error.message })
          )
        )
      })

      // Give the first connection a moment, so the first requests find Redis ready. Never fail the start on it:
      // with Redis down the service starts and reads go to the database until it answers.
      yield* Effect.async<void>((resume) => {
        const done = () => resume(Effect.void)
        redis.once("ready", done)
        redis.once("error", done)
        return Effect.sync(() => {
          redis.off("ready", done)
          redis.off("error", done)
        })
      }).pipe(Effect.timeout(Duration.min(options.connectTimeout, Duration.seconds(1))), Effect.ignore)
      if (!connected) {
        yield* Effect.logWarning("Redis does not answer yet; reads go to the database until it does").pipe(
          Effect.annotateLogs({ address: `${options.host}:${options.port}` })
        )
      }

      // While disconnected, what ioredis says ("Stream isn't writeable") names no cause: say where, and the last error.
      const whyNot = (error: unknown): Error =>
        redis.status !== "ready"
          ? new Error(
              `not connected to ${options.host}:${options.port} (${redis.status})`,
              lastError === undefined ? {} : { cause: lastError }
            )
          : error instanceof Error
            ? error
            : new Error(String(error))
      const breaker = yield* makeCircuitBreaker({
        name: "Redis",
        failureThreshold: options.breakerThreshold,
        resetAfter: options.breakerResetAfter,
        // While open, Redis is pinged every reset interval: the cache comes back without waiting for a reader.
        probe: Effect.tryPromise({ try: () => redis.ping(), catch: whyNot }),
        probeTimeout: Duration.millis(budgetMs)
      })
      // ioredis's commandTimeout bounds each command; the Effect timeout also bounds what it does not (a pipeline,
      // a script). Reads (the hot path) rely on commandTimeout alone: no second fiber per read.
      const call = <A>(operation: string, run: () => Promise<A>, bounded = true) =>
        breaker
          .protect(
            bounded
              ? Effect.tryPromise(run).pipe(
                  Effect.timeoutFail({ duration: budgetMs, onTimeout: () => new Error("timed out") })
                )
              : Effect.tryPromise(run)
          )
          .pipe(
            // A call the open breaker skipped never reached Redis: counted apart from the failures.
            Effect.tapError((error) =>
              Metric.increment(error instanceof BreakerOpen ? metrics.bypassed : metrics.errors)
            ),
            Effect.mapError((cause) => new DependencyUnavailable({ dependency: "cache", operation, cause }))
          )

      const valueKey = (id: UserId) => `${options.keyPrefix}user:${id}`
      const genKey = (id: UserId) => `${options.keyPrefix}user:${id}:gen`
      const absentKey = (id: UserId) => `${options.keyPrefix}user:${id}:absent`
      const ttlMs = () => {
        const base = Duration.toMillis(options.ttl)
        return Math.round(base * (1 - options.ttlJitter + Math.random() * 2 * options.ttlJitter))
      }

      const decoded = new LRUCache<UserId, { readonly text: string; readonly user: Option.Option<User> }>({
        max: DECODED_MAX
      })
      const decodeOnce = (id: UserId, text: string): Option.Option<User> => {
        const known = decoded.get(id)
        if (known !== undefined && known.text === text) return known.user
        const user = decodeCachedUser(text)
        decoded.set(id, { text, user })
        return user
      }

      // Invalidations that failed (Redis unreachable), with when they failed. Until one lands, its id is never served
      // from Redis here; another replica could serve it, so they are retried in the background (below).
      const pending = new Map<UserId, number>()
      const sendInvalidations = (ids: ReadonlyArray<UserId>) => () => {
        const batch = redis.pipeline()
        for (const id of ids)
          batch.eval(INVALIDATE_SCRIPT, 3, valueKey(id), genKey(id), absentKey(id), GENERATION_TTL_MS)
        return batch.exec().then((results) => {
          const failed = results?.find(([error]) => error !== null)
          if (failed?.[0]) throw failed[0]
        })
      }
      const invalidateNow = (ids: ReadonlyArray<UserId>) => {
        for (const id of ids) decoded.delete(id)
        return call("invalidate", sendInvalidations(ids))
      }
      const remember = (id: UserId) =>
        Effect.suspend(() => {
          pending.delete(id) // re-added last: the oldest go first when the bound is reached
          pending.set(id, Date.now())
          if (pending.size > MAX_PENDING_INVALIDATIONS) {
            const oldest = pending.keys().next()
            if (!oldest.done) pending.delete(oldest.value)
          }
          return Metric.set(metrics.invalidationsPending, pending.size)
        })
      // The background retry: every RETRY_PENDING_EVERY while any is pending, and as soon as the connection is back.
      // It goes around the breaker (a few keys, off the request path: it must not wait for the breaker's probe).
      // An entry whose TTL has run out since its invalidation failed is gone from Redis anyway: given up.
      const maxTtlMs = Duration.toMillis(options.ttl) * (1 + options.ttlJitter)
      const retryPending = Effect.suspend(() => {
        if (pending.size === 0) return Effect.void
        const now = Date.now()
        const expired = [...pending].filter(([, since]) => now - since > maxTtlMs).map(([id]) => id)
        for (const id of expired) pending.delete(id)
        const ids = [...pending.keys()]
        return Effect.tryPromise(sendInvalidations(ids)).pipe(
          Effect.timeout(budgetMs),
          Effect.matchEffect({
            onFailure: () => Metric.incrementBy(metrics.invalidationRetries("failed"), ids.length),
            onSuccess: () =>
              Effect.sync(() => {
                // An id that failed again after this batch was sent stays for the next round.
                for (const id of ids) if ((pending.get(id) ?? Number.POSITIVE_INFINITY) <= now) pending.delete(id)
              }).pipe(Effect.zipRight(Metric.incrementBy(metrics.invalidationRetries("ok"), ids.length)))
          }),
          Effect.zipRight(Metric.incrementBy(metrics.invalidationRetries("expired"), expired.length)),
          Effect.zipRight(Effect.suspend(() => Metric.set(metrics.invalidationsPending, pending.size)))
        )
      })
      const retrying = yield* Effect.makeSemaphore(1)
      const retryOnce = retrying.withPermitsIfAvailable(1)(retryPending)
      yield* retryOnce.pipe(Effect.repeat(Schedule.spaced(RETRY_PENDING_EVERY)), Effect.forkScoped)
      redis.on("ready", () => log(retryOnce))

      const healthChecks = yield* HealthChecks
      yield* healthChecks.register({
        name: "cache",
        critical: false,
        check: Effect.tryPromise({ try: () => redis.ping(), catch: whyNot }).pipe(Effect.asVoid)
      })

      return UserCache.of({
        getMany: (ids) =>
          Effect.gen(function* () {
            const keys = ids.flatMap((id) => [valueKey(id), genKey(id), absentKey(id)])
            const values = yield* call("getMany", () => redis.mget(keys), false)
            const found = new Map<UserId, CacheLookup>()
            const corrupt: Array<string> = []
            for (const [i, id] of ids.entries()) {
              if (pending.has(id)) continue // unknown until its invalidation lands: a miss with no fill
              const value = values[3 * i] ?? null
              const lease = CacheLease(values[3 * i + 1] ?? "")
              // A value wins over an absent mark: the Go service fills user:<id> without knowing of the mark.
              const user = value === null ? Option.none() : decodeOnce(id, value)
              if (value === null)
                found.set(id, values[3 * i + 2] === ABSENT ? { _tag: "Absent" } : { _tag: "Miss", lease })
              else if (Option.isSome(user)) found.set(id, { _tag: "Hit", user: user.value })
              else {
                corrupt.push(valueKey(id))
                found.set(id, { _tag: "Miss", lease })
              }
            }
            const hits = [...found.values()].filter((f) => f._tag !== "Miss").length
            yield* Metric.incrementBy(metrics.hits, hits)
            yield* Metric.incrementBy(metrics.misses, ids.length - hits)
            if (corrupt.length > 0) {
              yield* Metric.incrementBy(metrics.corrupt, corrupt.length)
              yield* Effect.logWarning("Undecodable cache values deleted").pipe(Effect.annotateLogs({ keys: corrupt }))
              yield* call("deleteCorrupt", () => redis.del(...corrupt)).pipe(Effect.ignore)
            }
            return found
          }).pipe(
            Effect.withSpan("UserCache.getMany", { attributes: { "cache.keys": ids.length }, captureStackTrace: false })
          ),

        fill: (entries) => {
          const negativeMs = Duration.toMillis(options.negativeTtl)
          const stored = entries.filter((entry) => Option.isSome(entry.user) || negativeMs > 0)
          if (stored.length === 0) return Effect.void
          const keys = stored.flatMap((entry) => [
            Option.isSome(entry.user) ? valueKey(entry.id) : absentKey(entry.id),
            genKey(entry.id)
          ])
          const args = stored.flatMap((entry) =>
            Option.match(entry.user, {
              onNone: () => [entry.lease, ABSENT, negativeMs],
              onSome: (user) => [entry.lease, encodeCachedUser(user), ttlMs()]
            })
          )
          return call("fill", () => redis.eval(FILL_SCRIPT, keys.length, ...keys, ...args)).pipe(
            Effect.asVoid,
            Effect.withSpan("UserCache.fill", { attributes: { "cache.keys": stored.length } })
          )
        },

        invalidate: (id) =>
          invalidateNow([id]).pipe(
            Effect.tapError(() => remember(id)),
            Effect.withSpan("UserCache.invalidate")
          )
      })
    })
  )

/** REDIS_ADDR: setting it is what selects this cache (see the composition root). */
export const address = dialAddress("REDIS_ADDR")

export const config = Config.all({
  password: Config.redacted("REDIS_PASSWORD").pipe(Config.option),
  db: intInRange("REDIS_DB", 0, 1_000_000).pipe(Config.withDefault(0)),
  connectTimeout: duration("REDIS_DIAL_TIMEOUT").pipe(Config.withDefault(Duration.seconds(5))),
  socketTimeout: duration("REDIS_READ_TIMEOUT").pipe(Config.withDefault(Duration.seconds(3))),
  writeTimeout: duration("REDIS_WRITE_TIMEOUT").pipe(Config.withDefault(Duration.zero)),
  commandTimeout: duration("REDIS_COMMAND_TIMEOUT").pipe(Config.withDefault(Duration.millis(50))),
  ttl: duration("REDIS_CACHE_TTL").pipe(Config.withDefault(Duration.seconds(60))),
  ttlJitter: ratio("REDIS_CACHE_TTL_JITTER").pipe(Config.withDefault(0.1)),
  negativeTtl: duration("REDIS_NEGATIVE_TTL").pipe(Config.withDefault(Duration.zero)),
  keyPrefix: Config.string("REDIS_KEY_PREFIX").pipe(Config.withDefault("")),
  breakerThreshold: intInRange("REDIS_BREAKER_THRESHOLD", 1, 1000).pipe(Config.withDefault(5)),
  breakerResetAfter: duration("REDIS_BREAKER_RESET").pipe(Config.withDefault(Duration.seconds(2)))
})

/**
 * The Go service's pool settings, which have no equivalent here: ioredis sends every command over one pipelined
 * connection. Validated, so a Go deployment's values still start the service, and named in a line at start.
 */
export const compatibilityOnly = {
  REDIS_POOL_SIZE: intInRange("REDIS_POOL_SIZE", 0, 100_000).pipe(Config.option),
  REDIS_MIN_IDLE_CONNECTIONS: intInRange("REDIS_MIN_IDLE_CONNECTIONS", 0, 100_000).pipe(Config.option)
}

export const layerConfig = Layer.unwrapEffect(
  Effect.map(Config.all([address, config]), ([{ host, port }, settings]) =>
    RedisUserCacheLive({ host, port, ...settings })
  )
)
