import { ConfigProvider, Context, Effect, Layer, Redacted } from "effect"
import { seedUsers } from "../../src/adapters/postgres/Seeds.js"
import { ServiceLive } from "../../src/main/Service.js"
import { type FaultProxy, startFaultProxy } from "./FaultProxy.js"
import { portOf, START_MS, serviceOn } from "./process.js"
import { FreshDatabaseUrl, HarnessDatabaseUrl, migratedClient } from "./TestDatabase.js"

/** The test's own connection to the suite's fresh database, migrated and seeded before the service starts. */
export const SeededDatabase = Layer.effectDiscard(seedUsers).pipe(
  Layer.provideMerge(migratedClient(HarnessDatabaseUrl))
)

/**
 * The whole service, as `npm start` builds it, on a free port and the suite's database, with `env` on top.
 * Also gives the test SqlClient on the same database (SeededDatabase).
 */
export const serviceOnHarness = <R = never>(
  env: Effect.Effect<Record<string, string>, never, R> = Effect.succeed({})
) =>
  Layer.unwrapEffect(
    Effect.gen(function* () {
      const { url, source } = yield* FreshDatabaseUrl
      const settings = {
        GRPC_SERVER_URL: "127.0.0.1:0",
        HTTP_SERVER_URL: "127.0.0.1:0",
        DATABASE_DSN: Redacted.value(url),
        DATABASE_MIGRATE: "false",
        DATABASE_POOL_MAX_OPEN: source === "embedded" ? "2" : "5",
        ...(yield* env)
      }
      return ServiceLive.pipe(
        Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(settings)))))
      )
    }).pipe(Effect.orDie)
  ).pipe(Layer.provideMerge(SeededDatabase))

/** A TCP fault proxy in front of the suite's Postgres (see FaultProxy.ts), so a test can make it fail. */
export class PostgresProxy extends Context.Tag("test/PostgresProxy")<PostgresProxy, FaultProxy>() {}

export const PostgresProxyLive = Layer.scoped(
  PostgresProxy,
  Effect.gen(function* () {
    const target = new URL(Redacted.value((yield* FreshDatabaseUrl).url))
    return yield* Effect.acquireRelease(
      Effect.promise(() => startFaultProxy({ host: target.hostname, port: Number(target.port || 5432) })),
      (p) => Effect.promise(p.close)
    )
  })
).pipe(Layer.provide(SeededDatabase))

/** The service reaching Postgres only through PostgresProxy, with `env` on top. */
export const serviceBehindPostgresProxy = (env: Record<string, string>) =>
  serviceOnHarness(
    Effect.gen(function* () {
      const proxy = yield* PostgresProxy
      const dsn = new URL(Redacted.value((yield* FreshDatabaseUrl).url))
      dsn.host = `127.0.0.1:${proxy.port}`
      return { DATABASE_DSN: dsn.toString(), ...env }
    })
  ).pipe(Layer.provideMerge(PostgresProxyLive))

/**
 * The service as `npm start` runs it (its own process), on the suite's database, with `env` on top: once it says it
 * is ready, with where it listens. Killed by its PID when the test's scope closes.
 */
export const readyServiceProcess = (env: Record<string, string> = {}, readyWithinMs: number = START_MS) =>
  Effect.gen(function* () {
    const { url } = yield* FreshDatabaseUrl
    const service = serviceOn(Redacted.value(url), env)
    yield* Effect.addFinalizer(() => Effect.sync(() => service.child.kill("SIGKILL")))
    const logged = (text: string, ms: number) =>
      Effect.promise(() => service.waitForLog((line) => line.message === text, ms))
    yield* logged("Service ready", readyWithinMs)
    const grpcPort = portOf(yield* logged("gRPC server listening", 1000))
    const httpPort = portOf(yield* logged("HTTP server listening", 1000))
    return { service, grpcPort, httpPort }
  })
