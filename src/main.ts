import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { loadConfig, runEntryPoint } from "./app/Main.js"
import { ServiceLive } from "./app/Service.js"

// Builds every layer, serves until SIGINT or SIGTERM, then closes every scope in reverse order and exits 0.
const main = Effect.gen(function* () {
  const config = yield* loadConfig
  yield* Layer.build(ServiceLive(config))
  yield* Effect.logInfo("Service ready").pipe(Effect.annotateLogs({ startup_ms: Math.round(process.uptime() * 1000) }))
  return yield* Effect.never
}).pipe(Effect.scoped)

NodeRuntime.runMain(runEntryPoint(main), { disableErrorReporting: true, disablePrettyLogger: true })
