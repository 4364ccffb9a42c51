import { readFileSync } from "node:fs"
import tls from "node:tls"
import { HttpServer as PlatformHttpServer } from "@effect/platform"
import { Duration, Effect, Layer, Option, RuntimeFlags } from "effect"
import type { AuthOptions } from "../adapters/grpc/Auth.js"
import { GrpcServer, GrpcServerLive, hostPort } from "../adapters/grpc/GrpcServer.js"
import { GrpcUpstreamGreeterLive } from "../adapters/grpc/UpstreamGreeterClient.js"
import { HttpServerLive, TLS_CIPHERS } from "../adapters/http/HttpServer.js"
import { MemoryUserCacheLive } from "../adapters/memory/MemoryUserCache.js"
import { PrometheusLive } from "../adapters/observability/Prometheus.js"
import { TracingLive, TracingOffLive } from "../adapters/observability/Tracing.js"
import { DatabaseLive } from "../adapters/postgres/Database.js"
import { PgAuditLogLive } from "../adapters/postgres/PgAuditLog.js"
import { PgGuardLive } from "../adapters/postgres/PgGuard.js"
import { PgUserRepositoryLive } from "../adapters/postgres/PgUserRepository.js"
import { RedisUserCacheLive } from "../adapters/redis/RedisUserCache.js"
import { AuditedUsersLive, AuditTrail } from "../app/Audit.js"
import type { AppConfig } from "../app/Config.js"
import { Greeter } from "../app/Greeter.js"
import { HealthChecksLive } from "../app/Health.js"
import { Lifecycle, LifecycleLive } from "../app/Lifecycle.js"
import { untilCutShort } from "../app/Signals.js"
import { Users } from "../app/Users.js"
import { VERSION } from "../app/Version.js"
import { RequestMetrics } from "../ports/RequestMetrics.js"
import { UpstreamGreeter } from "../ports/UpstreamGreeter.js"

/** JWT authentication when AUTH_JWT_SECRET or AUTH_JWKS_FILE is set (the JWKS file is read at start). */
const authOptions = (config: AppConfig): Option.Option<AuthOptions> => {
  const common = {
    issuer: config.auth.issuer,
    audience: config.auth.audience,
    clockToleranceSeconds: Duration.toSeconds(config.auth.clockSkew),
    maxTokenTtlSeconds: Duration.toSeconds(config.auth.maxTokenTtl)
  }
  if (Option.isSome(config.auth.secret))
    return Option.some({ ...common, key: { _tag: "Secret", secret: config.auth.secret.value } })
  return Option.map(config.auth.jwksFile, (path) => ({
    ...common,
    key: { _tag: "Jwks", jwks: JSON.parse(readFileSync(path, "utf8")) }
  }))
}

/** MAX_IN_FLIGHT and the per-caller rate limit, for gRPC and for the HTTP front doors (each its own count). */
const admissionOptions = (config: AppConfig) => ({
  maxInFlight: config.grpc.maxInFlight,
  ratePerSecond: config.grpc.rateLimitRps,
  burst: config.grpc.rateLimitBurst
})

/**
 * Calls one HTTP/2 connection may have open at once (GRPC_MAX_CONCURRENT_STREAMS): by default a quarter of
 * MAX_IN_FLIGHT (16 to 100; 16 with the adaptive limit, a quarter of where it starts), so four connections fill the
 * admission limit and no one connection takes every slot. A client's
 * calls beyond it wait in the client (HTTP/2 flow control), which costs the server nothing, instead of being
 * refused one by one: under a burst the server spends its CPU on calls it can serve.
 */
const maxConcurrentStreams = (config: AppConfig): number =>
  Option.getOrElse(config.grpc.maxConcurrentStreams, () =>
    config.grpc.maxInFlight === "auto" ? 16 : Math.min(100, Math.max(16, Math.floor(config.grpc.maxInFlight / 4)))
  )

/**
 * The Postgres adapters' guard. A statement's client-side bound covers waiting for a connection (at most the
 * connect timeout) and the server's statement_timeout, plus a margin so the server's own timeout answers first.
 */
const pgGuardOptions = (database: AppConfig["database"]) => ({
  breakerThreshold: database.breakerThreshold,
  breakerResetAfter: database.breakerReset,
  readRetries: database.readRetries,
  // DATABASE_STATEMENT_TIMEOUT=0 turns the server's limit off: then the caller's budget is the only bound.
  statementTimeout: Duration.isZero(database.statementTimeout)
    ? Duration.infinity
    : Duration.sum(Duration.sum(database.connectTimeout, database.statementTimeout), Duration.millis(250)),
  maxPending: database.poolMaxOpen + database.poolMaxWaiting
})

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

/** TLS for the HTTP port: its own files, else the gRPC port's (one certificate for the service), else none. */
const httpTls = (config: AppConfig) => {
  const files = Option.isSome(config.http.tls.certFile) ? config.http.tls : config.grpc.tls
  if (Option.isNone(files.certFile) || Option.isNone(files.keyFile)) return undefined
  return { certFile: files.certFile.value, keyFile: files.keyFile.value, caFile: Option.getOrUndefined(files.caFile) }
}

/** The use cases on the adapters the configuration selects. Needs HealthChecks and Lifecycle. */
export const UseCasesLive = (config: AppConfig) =>
  Greeter.Default.pipe(
    Layer.provideMerge(AuditTrail.Default),
    // The audit log example (docs/extending.md): Users decorated to record its changes.
    Layer.provideMerge(AuditedUsersLive.pipe(Layer.provide(Users.Default))),
    Layer.provide(
      Option.match(config.upstream.address, {
        onNone: () => UpstreamGreeter.none,
        onSome: (address) =>
          GrpcUpstreamGreeterLive({
            address: hostPort(address.host, address.port),
            timeout: config.upstream.timeout,
            breakerThreshold: 5,
            breakerResetAfter: Duration.seconds(2),
            tls: config.upstream.tls
          })
      })
    ),
    Layer.provide(
      Layer.merge(PgUserRepositoryLive({ idempotencyKeyTtl: config.database.idempotencyKeyTtl }), PgAuditLogLive).pipe(
        Layer.provideMerge(PgGuardLive(pgGuardOptions(config.database))),
        Layer.provide(DatabaseLive(config.database))
      )
    ),
    Layer.provide(UserCacheLive(config)),
    Layer.provide(warnCompatibilityOnly(config))
  )

/**
 * Tracing when TRACING_ENABLED says so; by default, when TRACING_COLLECTOR_URL is set (enabled without a URL
 * uses the Go service's default, localhost:4318).
 */
const TracingFromConfig = (config: AppConfig) => {
  const enabled = Option.getOrElse(config.tracing.enabled, () => Option.isSome(config.tracing.collector))
  if (!enabled) return TracingOffLive
  const collector = Option.match(config.tracing.collector, {
    onNone: () => "localhost:4318",
    onSome: (address) => hostPort(address.host, address.port)
  })
  return TracingLive({
    collector,
    serviceName: config.tracing.serviceName,
    serviceVersion: VERSION,
    environment: config.tracing.environment,
    sampleRatio: config.tracing.sampleRatio,
    shutdownTimeout: config.tracing.shutdownTimeout
  })
}

/** The health model every adapter reports into, and /readyz and grpc.health.v1 read; and the metrics. */
export const HealthLive = (config: AppConfig) =>
  LifecycleLive({
    startupSteps: ["database", "grpc", "http"],
    checkTimeout: config.health.checkTimeout,
    cacheTtl: config.health.cacheTtl,
    critical: Option.getOrUndefined(config.health.critical)
  }).pipe(
    Layer.provideMerge(HealthChecksLive),
    Layer.provideMerge(
      config.metrics.enabled
        ? PrometheusLive({
            defaultMetrics: config.metrics.defaultMetrics,
            version: VERSION,
            commit: config.metrics.commit
          })
        : Layer.succeedContext(RequestMetrics.noop)
    )
  )

/**
 * Built last, so its finalizer runs first at shutdown: readiness turns unready at once, and the service keeps
 * serving for SHUTDOWN_DELAY (for load balancers to notice) before the gRPC server starts draining.
 */
const ShutdownGateLive = (delay: Duration.Duration) =>
  Layer.scopedDiscard(
    Effect.flatMap(Lifecycle, (lifecycle) =>
      Effect.addFinalizer(() =>
        lifecycle.beginShutdown.pipe(
          Effect.zipRight(
            Effect.logInfo("Not ready: draining").pipe(Effect.annotateLogs({ delay_ms: Duration.toMillis(delay) }))
          ),
          // A second signal cuts the delay short too (see Signals.ts).
          Effect.zipRight(untilCutShort(Effect.sleep(delay)))
        )
      )
    )
  )

/**
 * The one startup line: where both servers listen and how long the start took (from the process's start). Built
 * last, once the database is prepared and both ports are open.
 */
const ServiceReadyLive = Layer.effectDiscard(
  Effect.gen(function* () {
    const grpc = yield* GrpcServer
    const http = yield* PlatformHttpServer.HttpServer
    yield* Effect.logInfo("Service ready").pipe(
      Effect.annotateLogs({
        grpc: hostPort(grpc.host, grpc.port),
        http: PlatformHttpServer.formatAddress(http.address),
        startup_ms: Math.round(process.uptime() * 1000)
      })
    )
  })
)

/**
 * The whole service. Layers are built bottom-up and closed top-down. Start: health and metrics → tracing → the
 * database prepared (connected, migrated, seeded) and the cache → the use cases → HTTP and gRPC open, one right
 * after the other, so no door answers before the service can answer correctly. Stop: readiness off →
 * (SHUTDOWN_DELAY) → gRPC drains (bounded, then forced) → HTTP closes (so /livez answers during the drain) →
 * cache and database closed → spans flushed. Exposes where the servers listen (GrpcServer, HttpServer) and the
 * health model.
 */
export const ServiceLive = (config: AppConfig) => {
  // Read once (the JWKS file included), shared by gRPC and the HTTP front doors.
  const auth = authOptions(config)
  const admission = admissionOptions(config)
  // Both ports offer TLS 1.2+ with forward-secret AEAD suites only. grpc-js takes no cipher option, so the policy
  // is Node's default, set before either server is built (outbound TLS, to Postgres or Redis, gets it too).
  tls.DEFAULT_MIN_VERSION = "TLSv1.2"
  tls.DEFAULT_CIPHERS = TLS_CIPHERS
  return ServiceReadyLive.pipe(
    Layer.provideMerge(ShutdownGateLive(config.shutdownDelay)),
    Layer.provideMerge(
      GrpcServerLive({
        host: config.grpc.address.host,
        port: config.grpc.address.port,
        maxReceiveMessageBytes: config.grpc.maxReceiveMessageBytes,
        maxSendMessageBytes: config.grpc.maxSendMessageBytes,
        maxConcurrentStreams: maxConcurrentStreams(config),
        reflection: config.grpc.reflection,
        shutdownTimeout: config.grpc.shutdownTimeout,
        requestTimeout: config.grpc.requestTimeout,
        tls: config.grpc.tls,
        auth,
        writeScope: config.auth.writeScope,
        admission
      })
    ),
    Layer.provideMerge(
      HttpServerLive({
        host: config.http.address.host,
        port: config.http.address.port,
        shutdownTimeout: config.http.shutdownTimeout,
        maxBodyBytes: config.http.maxBodyBytes,
        tls: httpTls(config),
        health: Option.getOrUndefined(config.http.healthAddress),
        edge: {
          requestTimeout: config.grpc.requestTimeout,
          auth,
          writeScope: config.auth.writeScope,
          admission
        }
      })
    ),
    Layer.provide(UseCasesLive(config)),
    // Built before the database and cache: its flush runs after they close.
    Layer.provideMerge(TracingFromConfig(config)),
    Layer.provideMerge(HealthLive(config)),
    // Effect counts every fiber it starts and ends (effect_fiber_*): six metric updates per call that /metrics
    // leaves out anyway (see EffectMetricsText.ts). Built first, so every fiber of the service runs without them.
    Layer.provideMerge(RuntimeFlags.disableRuntimeMetrics)
  )
}
