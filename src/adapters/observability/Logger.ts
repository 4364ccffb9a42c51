import { writeSync } from "node:fs"
import {
  Cause,
  Config,
  Context,
  Effect,
  FiberRef,
  FiberRefs,
  HashMap,
  Layer,
  List,
  Logger,
  LogLevel,
  Option,
  Tracer
} from "effect"

export type LogFormat = "json" | "pretty"
export type LogLevelName = "trace" | "debug" | "info" | "warn" | "warning" | "error" | "fatal" | "none"

const levels: Record<LogLevelName, LogLevel.LogLevel> = {
  trace: LogLevel.Trace,
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  // zap's, pino's and logrus's spelling, as well as Effect's.
  warn: LogLevel.Warning,
  warning: LogLevel.Warning,
  error: LogLevel.Error,
  fatal: LogLevel.Fatal,
  none: LogLevel.None
}

const RESERVED = new Set(["level", "time", "message", "trace_id", "span_id"])

const jsonSafe = (_key: string, value: unknown): unknown => (typeof value === "bigint" ? value.toString() : value)

/** One JSON object per line: level, time, message, then annotations as top-level fields. */
export const jsonLogger = Logger.make<unknown, string>(
  ({ annotations, cause, context, date, logLevel, message, spans }) => {
    const texts = Array.isArray(message) ? message : [message]
    const entry: Record<string, unknown> = {
      level: logLevel.label.toLowerCase(),
      time: date.toISOString(),
      message:
        texts.length === 1 && typeof texts[0] === "string"
          ? texts[0]
          : texts.map((m) => (typeof m === "string" ? m : JSON.stringify(m, jsonSafe))).join(" ")
    }
    // Correlation with traces: the span the line was written in (a native span when tracing is off).
    const span = Context.getOption(FiberRefs.getOrDefault(context, FiberRef.currentContext), Tracer.ParentSpan)
    if (Option.isSome(span)) {
      entry.trace_id = span.value.traceId
      entry.span_id = span.value.spanId
    }
    let bigints = false
    HashMap.forEach(annotations, (value, key) => {
      if (typeof value === "bigint") bigints = true
      entry[RESERVED.has(key) ? `field_${key}` : key] = value
    })
    if (List.isCons(spans)) {
      const now = date.getTime()
      for (const span of spans) entry[`${span.label}_ms`] = now - span.startTime
    }
    if (!Cause.isEmpty(cause)) entry.error = Cause.pretty(cause, { renderErrorCause: true })
    // A replacer slows JSON.stringify down several times: only lines with a bigint in them need it.
    if (!bigints) {
      try {
        return JSON.stringify(entry)
      } catch {
        // a bigint deeper in a value
      }
    }
    return JSON.stringify(entry, jsonSafe)
  }
)

/**
 * Writes all of `text` to stdout (fd 1) now, synchronously, and returns what it could not write within `maxWaitMs`.
 * process.stdout.write is synchronous only as long as the pipe has room: past that (a slow reader) the rest is
 * queued in memory and lost if the process exits, process.exit included. Once Node has opened stdout as a stream
 * the pipe is non-blocking, so a full pipe is waited out here (EAGAIN), a millisecond at a time, for a bounded time.
 */
const writeStdoutSync = (text: string, maxWaitMs: number): string => {
  const bytes = Buffer.from(text)
  let offset = 0
  let waitUntil: number | undefined
  while (offset < bytes.length) {
    try {
      offset += writeSync(1, bytes, offset)
    } catch (error) {
      if (!(error instanceof Error && "code" in error && error.code === "EAGAIN")) throw error
      waitUntil ??= performance.now() + maxWaitMs
      if (performance.now() >= waitUntil) break
      Atomics.wait(pause, 0, 0, 1)
    }
  }
  return bytes.subarray(offset).toString()
}
const pause = new Int32Array(new SharedArrayBuffer(4))

/**
 * Lines written in one turn of the event loop leave in one write. Writing to stdout is synchronous in Node when
 * it is a file or a pipe, so under load a write(2) per line cost a call's line more than building it. Pending
 * lines are flushed at the end of the turn, when 512 have piled up, and at exit (`exit` handlers run on a normal
 * exit, on process.exit and after an uncaught error), so none is lost.
 *
 * The chunk is written with write(2) directly (writeStdoutSync). During the run it never waits for a slow reader
 * (that would stall the event loop, probes included): what the pipe cannot take now is queued in process.stdout,
 * and later lines go behind it until it has drained, to keep their order. At exit it waits for the reader for at
 * most 5 s. stdout being a terminal, a file or a pipe, whatever was logged before the process exits reaches it.
 */
const RUN_WAIT_MS = 0
const EXIT_WAIT_MS = 5000

const logWriter = (() => {
  let pending: Array<string> = []
  let scheduled = false
  let hooked = false
  const flush = (maxWaitMs: number) => {
    scheduled = false
    if (pending.length === 0) return
    const chunk = pending.join("")
    pending = []
    // Behind what is already queued in the stream, if anything is.
    if (process.stdout.writableLength > 0) {
      process.stdout.write(chunk)
      return
    }
    try {
      const rest = writeStdoutSync(chunk, maxWaitMs)
      if (rest.length > 0) process.stdout.write(rest)
    } catch {
      // stdout closed (EPIPE): nobody reads the log any more.
    }
  }
  const flushNow = () => flush(RUN_WAIT_MS)
  const write = (line: string) => {
    pending.push(`${line}\n`)
    if (!hooked) {
      hooked = true
      process.on("exit", () => flush(EXIT_WAIT_MS))
    }
    if (pending.length >= 512) flushNow()
    else if (!scheduled) {
      scheduled = true
      setImmediate(flushNow)
    }
  }
  return { write, flush: () => flush(EXIT_WAIT_MS) }
})()

/** Writes every log line still pending now: before a process.exit, say (the `exit` handler does it too). */
export const flushLogs = (): void => logWriter.flush()

const writeLine = logWriter.write

const jsonLoggerToStdout = Logger.map(jsonLogger, writeLine)

export const LoggerLive = (options: { readonly level: LogLevelName; readonly format: LogFormat }): Layer.Layer<never> =>
  Layer.merge(
    options.format === "pretty" ? Logger.pretty : Logger.replace(Logger.defaultLogger, jsonLoggerToStdout),
    Logger.minimumLogLevel(levels[options.level])
  )

/** LOG_LEVEL and LOG_FORMAT: read on their own first, so a failure to start is logged with them when they are valid. */
export const config = Config.all({
  level: Config.literal(
    "trace",
    "debug",
    "info",
    "warn",
    "warning",
    "error",
    "fatal",
    "none"
  )("LOG_LEVEL").pipe(Config.withDefault("info" as const)),
  format: Config.literal("json", "pretty")("LOG_FORMAT").pipe(Config.withDefault("json" as const))
})

export const layerConfig = Layer.unwrapEffect(Effect.map(config, LoggerLive))
