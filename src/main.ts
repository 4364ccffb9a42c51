import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { loadConfig, runEntryPoint } from "./app/Main.js"
import { ServiceLive } from "./app/Service.js"
import { onShutdownSignals } from "./app/Signals.js"

// Builds every layer and serves until SIGINT or SIGTERM; then every scope closes in reverse order, and exit 0.
const serve = Effect.gen(function* () {
  const config = yield* loadConfig
  yield* Layer.build(ServiceLive(config)) // logs "Service ready" once the database is prepared and both servers listen
  return yield* Effect.never
}).pipe(Effect.scoped)

const main = Effect.scoped(
  Effect.flatMap(onShutdownSignals, (signals) => serve.pipe(Effect.onInterrupt(() => signals.complete)))
)

NodeRuntime.runMain(runEntryPoint(main), { disableErrorReporting: true, disablePrettyLogger: true })
