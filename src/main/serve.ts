import { defaultTeardown } from "@effect/platform/Runtime"
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { flushLogs } from "../adapters/observability/Logger.js"
import { DrainCutShort } from "../ports/Shutdown.js"
import { runEntryPoint } from "./Main.js"
import { ServiceLive } from "./Service.js"
import { onShutdownSignals } from "./Signals.js"

// Builds every layer and serves until SIGINT or SIGTERM; then every scope closes in reverse order, and exit 0
// (130 when a second signal cut the stop short: see Signals.ts).
const serve = Effect.gen(function* () {
  yield* Layer.build(ServiceLive) // logs "Service ready" once the database is prepared and both servers listen
  return yield* Effect.never
}).pipe(Effect.scoped)

let exitCode = (code: number) => code

const main = Effect.flatMap(onShutdownSignals, (signals) => {
  exitCode = signals.exitCode
  return serve.pipe(
    Effect.provideService(DrainCutShort, signals.cutShort),
    Effect.onInterrupt(() => signals.complete)
  )
})

NodeRuntime.runMain(runEntryPoint(main), {
  disableErrorReporting: true,
  disablePrettyLogger: true,
  // Every log line is out before the process exits, whichever way it does (Logger.ts flushes at exit too).
  teardown: (exit, onExit) =>
    defaultTeardown(exit, (code) => {
      flushLogs()
      onExit(exitCode(code))
    })
})
