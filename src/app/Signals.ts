import { Effect, Runtime } from "effect"

/**
 * Logs the shutdown signal (NodeRuntime.runMain turns the first SIGINT/SIGTERM into interruption) and makes a
 * second signal exit at once, for when a stop must not wait for the drain. `complete` logs the end of the
 * shutdown with the time it took; it must run after every scope has closed.
 */
export const onShutdownSignals = Effect.gen(function* () {
  const runSync = Runtime.runSync(yield* Effect.runtime<never>())
  let receivedAt: number | undefined
  const onSignal = (signal: NodeJS.Signals) => {
    if (receivedAt === undefined) {
      receivedAt = performance.now()
      runSync(Effect.logInfo("Shutdown signal received").pipe(Effect.annotateLogs({ signal })))
      return
    }
    runSync(
      Effect.logWarning("Second signal: exiting now, without waiting for the drain").pipe(
        Effect.annotateLogs({ signal })
      )
    )
    process.exit(130)
  }
  yield* Effect.acquireRelease(
    Effect.sync(() => {
      process.on("SIGINT", onSignal)
      process.on("SIGTERM", onSignal)
    }),
    () =>
      Effect.sync(() => {
        process.off("SIGINT", onSignal)
        process.off("SIGTERM", onSignal)
      })
  )
  return {
    complete: Effect.suspend(() =>
      Effect.logInfo("Shutdown complete").pipe(
        Effect.annotateLogs({ duration_ms: receivedAt === undefined ? 0 : Math.round(performance.now() - receivedAt) })
      )
    )
  }
})
