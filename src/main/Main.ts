import { Cause, Data, Effect, Layer, Option } from "effect"
import { LoggerLive } from "../adapters/observability/Logger.js"
import { AppConfig, describeConfigError, envConfigProvider, LogConfig } from "../app/Config.js"

export class InvalidConfiguration extends Data.TaggedError("InvalidConfiguration")<{
  readonly problems: ReadonlyArray<string>
}> {
  override get message(): string {
    return `Invalid configuration: ${this.problems.join("; ")}`
  }
}

/** The whole configuration, or one error naming every invalid variable. */
export const loadConfig = AppConfig.pipe(
  Effect.mapError((error) => new InvalidConfiguration({ problems: describeConfigError(error) }))
)

// The log settings are needed before the rest of the configuration is known to be valid.
const LoggerFromEnv = Layer.unwrapEffect(
  LogConfig.pipe(
    Effect.orElseSucceed(() => ({ level: "info", format: "json" }) as const),
    Effect.map(LoggerLive)
  )
)

/**
 * Runs a program the way every entry point (service, migrations, seeds) runs: configuration from the
 * environment and `.env`, the configured logger, and one log line for a failure to start.
 */
export const runEntryPoint = <A, E>(program: Effect.Effect<A, E>) =>
  program.pipe(
    Effect.tapErrorCause((cause) => {
      if (Cause.isInterruptedOnly(cause)) return Effect.void
      const failure = Cause.failureOption(cause)
      return Option.isSome(failure) && failure.value instanceof InvalidConfiguration
        ? Effect.logError(failure.value.message).pipe(Effect.annotateLogs({ invalid: failure.value.problems }))
        : Effect.logError("Stopped by an error", cause)
    }),
    Effect.provide(LoggerFromEnv),
    Effect.withConfigProvider(envConfigProvider())
  )
