import { Effect, Layer, Option } from "effect"
import { GrpcServerLive } from "../adapters/grpc/GrpcServer.js"
import { MemoryUserCacheLive } from "../adapters/memory/MemoryUserCache.js"
import { PgUserRepositoryLive } from "../adapters/postgres/PgUserRepository.js"
import { RedisUserCacheLive } from "../adapters/redis/RedisUserCache.js"
import type { AppConfig } from "./Config.js"
import { DatabaseLive } from "./Database.js"
import { Greeter } from "./Greeter.js"
import { HealthChecksLive } from "./Health.js"
import { Users } from "./Users.js"

/** Redis when REDIS_ADDR is set, else the in-process cache. */
export const UserCacheLive = (config: AppConfig) =>
  Option.match(config.redis.address, {
    onNone: () =>
      MemoryUserCacheLive({
        maxEntries: config.cache.maxEntries,
        ttl: config.cache.ttl,
        negativeTtl: config.cache.negativeTtl
      }),
    onSome: (address) =>
      RedisUserCacheLive({
        host: address.host,
        port: address.port,
        password: config.redis.password,
        db: config.redis.db,
        connectTimeout: config.redis.dialTimeout,
        socketTimeout: config.redis.readTimeout,
        commandTimeout: config.redis.commandTimeout,
        ttl: config.redis.ttl,
        ttlJitter: config.redis.ttlJitter,
        negativeTtl: config.redis.negativeTtl,
        keyPrefix: config.redis.keyPrefix,
        breakerThreshold: config.redis.breakerThreshold,
        breakerResetAfter: config.redis.breakerResetAfter
      })
  })

const warnCompatibilityOnly = (config: AppConfig) => {
  const values: Record<string, Option.Option<unknown>> = config.compatibilityOnly
  const set = Object.entries(values)
    .filter(([, value]) => Option.isSome(value))
    .map(([name]) => name)
  return set.length === 0
    ? Layer.empty
    : Layer.effectDiscard(
        Effect.logWarning("Variables kept for compatibility with the Go service have no effect here").pipe(
          Effect.annotateLogs({ variables: set, see: "docs/configuration.md" })
        )
      )
}

/** The use cases on the adapters the configuration selects, and the health-check registry they fill. */
export const UseCasesLive = (config: AppConfig) =>
  Greeter.Default.pipe(
    Layer.provideMerge(Users.Default),
    Layer.provide(PgUserRepositoryLive.pipe(Layer.provide(DatabaseLive(config.database)))),
    Layer.provide(UserCacheLive(config)),
    Layer.provideMerge(HealthChecksLive),
    Layer.provide(warnCompatibilityOnly(config))
  )

/** The whole service: its driving adapters on top of the use cases. Exposes GrpcServer (where it listens). */
export const ServiceLive = (config: AppConfig) =>
  GrpcServerLive({
    host: config.grpc.address.host,
    port: config.grpc.address.port,
    maxReceiveMessageBytes: config.grpc.maxReceiveMessageBytes,
    maxSendMessageBytes: config.grpc.maxSendMessageBytes,
    reflection: config.grpc.reflection,
    shutdownTimeout: config.grpc.shutdownTimeout
  }).pipe(Layer.provide(UseCasesLive(config)))
