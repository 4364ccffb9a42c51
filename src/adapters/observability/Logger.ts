import { Cause, Context, FiberRef, FiberRefs, HashMap, Layer, List, Logger, LogLevel, Option, Tracer } from "effect"

export type LogFormat = "json" | "pretty"
export type LogLevelName = "trace" | "debug" | "info" | "warning" | "error" | "fatal" | "none"

const levels: Record<LogLevelName, LogLevel.LogLevel> = {
  trace: LogLevel.Trace,
  debug: LogLevel.Debug,
  info: LogLevel.Info,
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
 * Lines written in one turn of the event loop leave in one write. Writing to stdout is synchronous in Node when
 * it is a file or a pipe, so under load a write(2) per line cost a call's line more than building it. Pending
 * lines are flushed at the end of the turn, when 512 have piled up, and at exit (`exit` handlers run on a normal
 * exit and after an uncaught error), so none is lost.
 */
const writeLine = (() => {
  let pending: Array<string> = []
  let scheduled = false
  let hooked = false
  const flush = () => {
    scheduled = false
    if (pending.length === 0) return
    const chunk = pending.join("")
    pending = []
    process.stdout.write(chunk)
  }
  return (line: string) => {
    pending.push(`${line}\n`)
    if (!hooked) {
      hooked = true
      process.on("exit", flush)
    }
    if (pending.length >= 512) flush()
    else if (!scheduled) {
      scheduled = true
      setImmediate(flush)
    }
  }
})()

const jsonLoggerToStdout = Logger.map(jsonLogger, writeLine)

export const LoggerLive = (options: { readonly level: LogLevelName; readonly format: LogFormat }): Layer.Layer<never> =>
  Layer.merge(
    options.format === "pretty" ? Logger.pretty : Logger.replace(Logger.defaultLogger, jsonLoggerToStdout),
    Logger.minimumLogLevel(levels[options.level])
  )
