import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { loadConfig, runEntryPoint } from "./app/Main.js"
import { ServiceLive } from "./app/Service.js"

// Builds every layer, serves until SIGINT or SIGTERM, then closes every scope in reverse order and exits 0.
const main = Effect.flatMap(loadConfig, (config) => Layer.launch(ServiceLive(config)))

NodeRuntime.runMain(runEntryPoint(main), { disableErrorReporting: true, disablePrettyLogger: true })
