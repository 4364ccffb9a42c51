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
      message: texts.map((m) => (typeof m === "string" ? m : JSON.stringify(m, jsonSafe))).join(" ")
    }
    // Correlation with traces: the span the line was written in (a native span when tracing is off).
    const span = Context.getOption(FiberRefs.getOrDefault(context, FiberRef.currentContext), Tracer.ParentSpan)
    if (Option.isSome(span)) {
      entry.trace_id = span.value.traceId
      entry.span_id = span.value.spanId
    }
    for (const [key, value] of HashMap.toEntries(annotations)) {
      entry[RESERVED.has(key) ? `field_${key}` : key] = value
    }
    const now = date.getTime()
    for (const span of List.toArray(spans)) entry[`${span.label}_ms`] = now - span.startTime
    if (!Cause.isEmpty(cause)) entry.error = Cause.pretty(cause, { renderErrorCause: true })
    return JSON.stringify(entry, jsonSafe)
  }
)

const jsonLoggerToStdout = Logger.map(jsonLogger, (line) => {
  process.stdout.write(`${line}\n`)
})

export const LoggerLive = (options: { readonly level: LogLevelName; readonly format: LogFormat }): Layer.Layer<never> =>
  Layer.merge(
    options.format === "pretty" ? Logger.pretty : Logger.replace(Logger.defaultLogger, jsonLoggerToStdout),
    Logger.minimumLogLevel(levels[options.level])
  )
