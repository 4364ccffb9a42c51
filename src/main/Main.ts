import { Cause, Effect, Layer, Option } from "effect"
import * as Logger from "../adapters/observability/Logger.js"
import { envConfigProvider, InvalidConfiguration } from "./Config.js"

// The log settings are needed before the rest of the configuration is known to be valid.
const LoggerFromEnv = Layer.unwrapEffect(
  Logger.config.pipe(
    Effect.orElseSucceed(() => ({ level: "info", format: "json" }) as const),
    Effect.map(Logger.LoggerLive)
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
