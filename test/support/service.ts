import { ConfigProvider, Effect, Layer, Redacted } from "effect"
import { seedUsers } from "../../src/adapters/postgres/Seeds.js"
import { loadConfig } from "../../src/app/Main.js"
import { ServiceLive } from "../../src/app/Service.js"
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
      const config = yield* loadConfig.pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(settings))))
      )
      return ServiceLive(config)
    }).pipe(Effect.orDie)
  ).pipe(Layer.provideMerge(SeededDatabase))
