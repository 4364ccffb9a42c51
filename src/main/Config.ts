import {
  Config,
  ConfigError,
  ConfigProvider,
  ConfigProviderPathPatch,
  Data,
  Effect,
  HashSet,
  type Option
} from "effect"
import * as EdgeConfig from "../adapters/edge/EdgeConfig.js"
import * as GrpcServer from "../adapters/grpc/GrpcServer.js"
import * as UpstreamGreeterClient from "../adapters/grpc/UpstreamGreeterClient.js"
import * as Lifecycle from "../adapters/health/Lifecycle.js"
import * as HttpServer from "../adapters/http/HttpServer.js"
import * as MemoryUserCache from "../adapters/memory/MemoryUserCache.js"
import * as Logger from "../adapters/observability/Logger.js"
import * as Prometheus from "../adapters/observability/Prometheus.js"
import * as Tracing from "../adapters/observability/Tracing.js"
import * as DatabaseConfig from "../adapters/postgres/DatabaseConfig.js"
import * as PgUserRepository from "../adapters/postgres/PgUserRepository.js"
import * as RedisUserCache from "../adapters/redis/RedisUserCache.js"
import { readSettings } from "./Settings.js"

// Each adapter declares its own variables next to its code; this only gathers them, to check them all at start
// (one error naming every invalid variable) and to list them (test/app/envExample.test.ts checks the docs).

/** Go variables with no equivalent here: validated, and named in a warning at start when set (see Service.ts). */
const compatibilityOnly: Record<string, Config.Config<Option.Option<unknown>>> = {
  ...RedisUserCache.compatibilityOnly
}
export const CompatibilityOnly = Config.all(compatibilityOnly)

/** Every variable the service reads, whichever adapters the configuration selects. */
export const ServiceConfig = Config.all({
  log: Logger.config,
  grpc: GrpcServer.config,
  http: HttpServer.config,
  edge: EdgeConfig.EdgeConfig,
  health: Lifecycle.config,
  tracing: Tracing.config,
  metrics: Config.all({ enabled: Prometheus.enabled, prometheus: Prometheus.config }),
  database: DatabaseConfig.config,
  repository: PgUserRepository.config,
  cache: MemoryUserCache.config,
  redis: Config.all({ address: Config.option(RedisUserCache.address), settings: RedisUserCache.config }),
  upstream: Config.all({
    address: Config.option(UpstreamGreeterClient.address),
    settings: UpstreamGreeterClient.config
  }),
  compatibilityOnly: CompatibilityOnly
})
export type ServiceConfig = Config.Config.Success<typeof ServiceConfig>

export class InvalidConfiguration extends Data.TaggedError("InvalidConfiguration")<{
  readonly problems: ReadonlyArray<string>
}> {
  override get message(): string {
    return `Invalid configuration: ${this.problems.join("; ")}`
  }
}

/** Every invalid or missing variable in a ConfigError, as "NAME: reason" lines. */
export const describeConfigError = (error: ConfigError.ConfigError): ReadonlyArray<string> =>
  ConfigError.reduceWithContext(error, undefined, {
    andCase: (_, left: ReadonlyArray<string>, right: ReadonlyArray<string>) => [...left, ...right],
    orCase: (_, left: ReadonlyArray<string>, right: ReadonlyArray<string>) => [...left, ...right],
    invalidDataCase: (_, path, message) => [`${path.join("_")}: ${message}`],
    missingDataCase: (_, path, message) => [`${path.join("_")}: ${message}`],
    sourceUnavailableCase: (_, path, message) => [`${path.join("_")}: ${message}`],
    unsupportedCase: (_, path, message) => [`${path.join("_")}: ${message}`]
  })

/** The whole configuration, or one error naming every invalid variable. */
export const loadConfig = ServiceConfig.pipe(
  Effect.mapError((error) => new InvalidConfiguration({ problems: describeConfigError(error) }))
)

/** The configuration from the process environment over a `.env` file (see readSettings). */
export const envConfigProvider = (
  env: NodeJS.ProcessEnv = process.env,
  dotEnvPath: string | undefined = ".env"
): ConfigProvider.ConfigProvider => ConfigProvider.fromMap(readSettings(env, dotEnvPath))

/**
 * The names of the variables a Config reads, found by reading it from a provider that has none and notes every
 * name asked for: the declarations themselves are the list, so a variable is added in one place.
 */
export const declaredVariables = (config: Config.Config<unknown>): Effect.Effect<ReadonlyArray<string>> =>
  Effect.suspend(() => {
    const names = new Set<string>()
    const recording = ConfigProvider.fromFlat(
      ConfigProvider.makeFlat({
        load: (path) => {
          names.add(path.join("_"))
          return Effect.fail(ConfigError.MissingData([...path], "not set"))
        },
        enumerateChildren: () => Effect.succeed(HashSet.empty()),
        patch: ConfigProviderPathPatch.empty
      })
    )
    return config.pipe(
      Effect.withConfigProvider(recording),
      Effect.ignore,
      Effect.map(() => [...names].sort())
    )
  })
