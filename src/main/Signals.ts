import { Deferred, Effect, Runtime } from "effect"
import { flushLogs } from "../adapters/observability/Logger.js"

/** The exit code of a stop that a second signal cut short (as a shell reports a stop by Ctrl-C). */
export const CUT_SHORT_EXIT_CODE = 130

/**
 * Signals closer than this to the one that cut the stop short are the same request sent again: one Ctrl-C reaches
 * the service more than once (the terminal signals the whole process group, and tsx and npm relay it too).
 */
const SAME_REQUEST_MS = 1000

/**
 * The service's answer to stop signals, installed until the process exits (a signal with no listener would kill
 * it at once, without the log lines still to write):
 * - the first SIGINT/SIGTERM starts the graceful stop (NodeRuntime.runMain turns it into interruption); it is
 *   logged here;
 * - a second one cuts the drain short: waits that may be long (SHUTDOWN_DELAY, the gRPC drain) end at once, the
 *   rest of the stop still runs and logs, and the exit code is 130 (`exitCode`);
 * - a third one, at least a second after the second, exits at once (the log flushed first): the last resort.
 * `complete` logs the end of the shutdown with the time it took; it must run after every scope has closed.
 */
export const onShutdownSignals = Effect.gen(function* () {
  const runSync = Runtime.runSync(yield* Effect.runtime<never>())
  const cut = yield* Deferred.make<void>()
  let receivedAt: number | undefined
  let cutAt: number | undefined
  let completed = false
  const onSignal = (signal: NodeJS.Signals) => {
    const now = performance.now()
    if (completed) return
    if (receivedAt === undefined) {
      receivedAt = now
      runSync(Effect.logInfo("Shutdown signal received").pipe(Effect.annotateLogs({ signal })))
      return
    }
    if (cutAt === undefined) {
      cutAt = now
      runSync(
        Effect.logWarning("Second signal: cutting the drain short").pipe(
          Effect.annotateLogs({ signal }),
          Effect.zipRight(Deferred.succeed(cut, undefined))
        )
      )
      return
    }
    if (now - cutAt < SAME_REQUEST_MS) return
    runSync(
      Effect.logError("Third signal: exiting now, without finishing the shutdown").pipe(Effect.annotateLogs({ signal }))
    )
    flushLogs()
    process.exit(CUT_SHORT_EXIT_CODE)
  }
  yield* Effect.sync(() => {
    process.on("SIGINT", onSignal)
    process.on("SIGTERM", onSignal)
  })
  return {
    cutShort: { await: Deferred.await(cut) },
    complete: Effect.suspend(() =>
      Effect.logInfo("Shutdown complete").pipe(
        Effect.annotateLogs({
          duration_ms: receivedAt === undefined ? 0 : Math.round(performance.now() - receivedAt),
          ...(cutAt === undefined ? {} : { cut_short: true })
        }),
        Effect.zipRight(
          Effect.sync(() => {
            completed = true
          })
        )
      )
    ),
    /** The exit code for the code the run would exit with: 130 instead of 0 when the stop was cut short. */
    exitCode: (code: number): number => (code === 0 && cutAt !== undefined ? CUT_SHORT_EXIT_CODE : code)
  }
})
