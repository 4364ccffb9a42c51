import tls from "node:tls"
import { HttpServer as PlatformHttpServer } from "@effect/platform"
import { Config, Effect, Layer, Option, RuntimeFlags } from "effect"
import { hostPort } from "../adapters/config/Settings.js"
import { EdgeConfig } from "../adapters/edge/EdgeConfig.js"
import * as GrpcServer from "../adapters/grpc/GrpcServer.js"
import * as UpstreamGreeterClient from "../adapters/grpc/UpstreamGreeterClient.js"
import { HealthChecksLive } from "../adapters/health/HealthChecks.js"
import * as Lifecycle from "../adapters/health/Lifecycle.js"
import * as HttpServer from "../adapters/http/HttpServer.js"
import * as MemoryUserCache from "../adapters/memory/MemoryUserCache.js"
import * as Prometheus from "../adapters/observability/Prometheus.js"
import * as Tracing from "../adapters/observability/Tracing.js"
import * as Database from "../adapters/postgres/Database.js"
import { PgAuditLogLive } from "../adapters/postgres/PgAuditLog.js"
import * as PgGuard from "../adapters/postgres/PgGuard.js"
import * as PgUserRepository from "../adapters/postgres/PgUserRepository.js"
import * as RedisUserCache from "../adapters/redis/RedisUserCache.js"
import { AuditedUsersLive, AuditTrail } from "../app/Audit.js"
import { Greeter } from "../app/Greeter.js"
import { Users } from "../app/Users.js"
import { RequestMetrics } from "../ports/RequestMetrics.js"
import { UpstreamGreeter } from "../ports/UpstreamGreeter.js"
import { CompatibilityOnly, loadConfig } from "./Config.js"

// The composition root: which adapter serves each port, and the order the service starts and stops in. Each
// adapter reads its own settings (its layerConfig); only the choices between adapters are made here.

const warnCompatibilityOnly = Effect.flatMap(CompatibilityOnly, (values) => {
  const set = Object.entries(values)
    .filter(([, value]) => Option.isSome(value))
    .map(([name]) => name)
  return set.length === 0
    ? Effect.void
    : Effect.logInfo("Go settings with no equivalent here are accepted and have no effect").pipe(
        Effect.annotateLogs({ variables: set, see: "docs/configuration.md" })
      )
})

// Both ports offer TLS 1.2+ with forward-secret AEAD suites only. grpc-js takes no cipher option, so the policy is
// Node's default, set before anything connects (outbound TLS, to Postgres or Redis, gets it too).
const TlsPolicyLive = Layer.effectDiscard(
  Effect.sync(() => {
    tls.DEFAULT_MIN_VERSION = "TLSv1.2"
    tls.DEFAULT_CIPHERS = HttpServer.TLS_CIPHERS
  })
)

/** Redis when REDIS_ADDR is set, else the in-process cache. */
const UserCacheLive = Layer.unwrapEffect(
  Effect.map(Config.option(RedisUserCache.address), (address) =>
    Option.isSome(address) ? RedisUserCache.layerConfig : MemoryUserCache.layerConfig
  )
)

/** Another Greeter called first when GREETER_UPSTREAM_URL is set. */
const UpstreamGreeterLive = Layer.unwrapEffect(
  Effect.map(Config.option(UpstreamGreeterClient.address), (address) =>
    Option.isSome(address) ? UpstreamGreeterClient.layerConfig : UpstreamGreeter.none
  )
)

/** Tracing when TRACING_ENABLED says so; by default, when TRACING_COLLECTOR_URL is set. */
const TracingLive = Layer.unwrapEffect(
  Effect.map(Tracing.enabled, (enabled) => (enabled ? Tracing.layerConfig : Tracing.TracingOffLive))
)

/** Prometheus unless METRICS_ENABLED=false. */
const MetricsLive = Layer.unwrapEffect(
  Effect.map(Prometheus.enabled, (enabled) =>
    enabled ? Prometheus.layerConfig : Layer.succeedContext(RequestMetrics.noop)
  )
)

/** The repositories share one SqlClient (one pool, migrated once) and one PgGuard (one circuit breaker). */
const PostgresLive = Layer.merge(PgUserRepository.layerConfig, PgAuditLogLive).pipe(
  Layer.provideMerge(PgGuard.layerConfig),
  Layer.provide(Database.layerConfig)
)

/** The one startup line: where both servers listen, and how long the start took (from the process's start). */
const ServiceReadyLive = Layer.effectDiscard(
  Effect.gen(function* () {
    const grpc = yield* GrpcServer.GrpcServer
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

/** Process-wide: every variable checked (one error names each invalid one), and the TLS policy. */
const ProcessTier = Layer.mergeAll(
  Layer.effectDiscard(Effect.zipRight(loadConfig, warnCompatibilityOnly)),
  TlsPolicyLive
)

/** The health model every adapter reports into (HealthChecks, Lifecycle), the metrics, and the tracer. */
const ObservabilityTier = Layer.mergeAll(
  Lifecycle.layerConfig(["database", "grpc", "http"]).pipe(Layer.provideMerge(HealthChecksLive)),
  MetricsLive,
  TracingLive
)

/** The driven adapters: the database prepared (connected, migrated, seeded), the cache, the upstream Greeter. */
const InfrastructureTier = Layer.mergeAll(PostgresLive, UserCacheLive, UpstreamGreeterLive)

/** The use cases; Users decorated to record its changes (the audit log example, docs/extending.md). */
const UseCasesTier = Layer.mergeAll(Greeter.Default, AuditTrail.Default).pipe(
  Layer.provideMerge(AuditedUsersLive.pipe(Layer.provide(Users.Default)))
)

/**
 * The doors, under one edge policy read once (the JWKS file included). HTTP opens first and closes last, so /livez
 * answers while gRPC drains.
 */
const DoorsTier = Layer.unwrapEffect(
  Effect.map(EdgeConfig, (edge) => GrpcServer.layerConfig(edge).pipe(Layer.provideMerge(HttpServer.layerConfig(edge))))
)

/** Built last: the ready line; and the shutdown gate, whose finalizer runs first (readiness off, SHUTDOWN_DELAY). */
const GatesTier = Layer.mergeAll(ServiceReadyLive, Lifecycle.ShutdownGateLive)

/**
 * The whole service. Tiers are built bottom-up and closed top-down. Start: configuration checked → health and
 * metrics, tracing → the database prepared (connected, migrated, seeded) and the cache → the use cases → HTTP and
 * gRPC open, one right after the other, so no door answers before the service can answer correctly. Stop: readiness
 * off → (SHUTDOWN_DELAY) → gRPC drains (bounded, then forced) → HTTP closes (so /livez answers during the drain) →
 * cache and database closed → spans flushed. Exposes where the servers listen (GrpcServer, HttpServer) and the
 * health model.
 */
export const ServiceLive = GatesTier.pipe(
  Layer.provideMerge(DoorsTier),
  Layer.provide(UseCasesTier),
  Layer.provide(InfrastructureTier),
  Layer.provideMerge(ObservabilityTier),
  Layer.provideMerge(ProcessTier),
  // Effect counts every fiber it starts and ends (effect_fiber_*): six metric updates per call that /metrics
  // leaves out anyway (see EffectMetricsText.ts). Built first, so every fiber of the service runs without them.
  Layer.provideMerge(RuntimeFlags.disableRuntimeMetrics)
)
