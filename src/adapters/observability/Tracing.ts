import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import type { ExportResult } from "@opentelemetry/core"
import { OTLPTraceExporter as OTLPJsonTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { OTLPTraceExporter as OTLPProtobufTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto"
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  type ReadableSpan,
  type SpanExporter,
  TraceIdRatioBasedSampler
} from "@opentelemetry/sdk-trace-base"
import { Config, type Context, Duration, Effect, type Exit, Layer, Metric, Option, Runtime, Tracer } from "effect"
import { dialAddress, duration, hostPort, ratio } from "../config/Settings.js"
import { VERSION } from "../config/Version.js"

export interface TracingOptions {
  /** host:port of an OTLP/HTTP collector (as in the Go service); spans go to http://HOST:PORT/v1/traces. */
  readonly collector: string
  /** OTLP/HTTP's encoding: protobuf (as the Go service sends; every collector and backend takes it) or JSON. */
  readonly protocol?: "http/protobuf" | "http/json" | undefined
  readonly serviceName: string
  readonly serviceVersion: string
  readonly environment: string
  /** Share of new traces recorded (parent-based: a caller's sampling decision is always followed). */
  readonly sampleRatio: number
  /** Bound on flushing the last spans at shutdown. */
  readonly shutdownTimeout: Duration.Duration
}

const droppedSpans = Metric.counter("tracing_spans_dropped_total", {
  description: "Spans that could not be exported (collector down, slow or refusing)",
  incremental: true
})

/** Counts the spans of every batch the collector did not take. */
const counting = (exporter: SpanExporter): SpanExporter => ({
  export: (spans: Array<ReadableSpan>, done: (result: ExportResult) => void) =>
    exporter.export(spans, (result) => {
      if (result.code !== 0) droppedSpans.unsafeUpdate(spans.length, [])
      done(result)
    }),
  shutdown: () => exporter.shutdown(),
  ...(exporter.forceFlush ? { forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve() } : {})
})

/**
 * OpenTelemetry tracing with @effect/opentelemetry: every Effect span (gRPC server span, use cases, cache, SQL)
 * is exported over OTLP/HTTP. Exporting is batched off the request path with a bounded queue (2048 spans, then
 * dropped) and a 5 s export timeout, so a collector that is down or slow never slows or fails a request.
 */
export const TracingLive = (options: TracingOptions) => withoutAmbientContext.pipe(Layer.provideMerge(sdk(options)))

/** A tracer that makes spans with `span` and runs fiber steps as they are (no ambient context around them). */
const tracerWithoutContext = (span: Tracer.Tracer["span"]): Layer.Layer<never> =>
  Layer.setTracer(Tracer.make({ span, context: (execution) => execution() }))

/**
 * The OpenTelemetry tracer of @effect/opentelemetry, minus one thing: it runs every step of every fiber inside
 * OpenTelemetry's ambient context (`context.with`, an AsyncLocalStorage run per step), for libraries that read
 * the active span from there (OpenTelemetry auto-instrumentation). Nothing here does: spans get their parent from
 * Effect, and trace context crosses services in our own headers. Skipping it makes tracing much cheaper per call.
 */
const withoutAmbientContext = Layer.unwrapEffect(
  Effect.map(Effect.tracer, (otel) =>
    tracerWithoutContext((name, parent, context, links, startTime, kind, options) =>
      otel.span(name, parent, context, links, startTime, kind, options)
    )
  )
)

const sdk = (options: TracingOptions) =>
  NodeSdk.layer(() => ({
    resource: {
      serviceName: options.serviceName,
      serviceVersion: options.serviceVersion,
      attributes: { "deployment.environment": options.environment }
    },
    spanProcessor: new BatchSpanProcessor(
      counting(
        new (options.protocol === "http/json" ? OTLPJsonTraceExporter : OTLPProtobufTraceExporter)({
          url: `http://${options.collector}/v1/traces`,
          timeoutMillis: 5000
        })
      ),
      { maxQueueSize: 2048, exportTimeoutMillis: 5000 }
    ),
    tracerConfig: { sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(options.sampleRatio) }) },
    shutdownTimeout: options.shutdownTimeout
  })).pipe(Layer.orDie)

const hex = (length: number): string => {
  let out = ""
  for (let i = 0; i < length; i++) out += "0123456789abcdef"[Math.floor(Math.random() * 16)]
  return out
}

/** A span that is never recorded: ids for log correlation (the caller's trace id when there is one), no more. */
class UnrecordedSpan implements Tracer.Span {
  readonly _tag = "Span"
  readonly spanId = hex(16)
  readonly traceId: string
  readonly sampled = false
  readonly attributes = new Map<string, unknown>()
  readonly links: Array<Tracer.SpanLink>
  status: Tracer.SpanStatus
  constructor(
    readonly name: string,
    readonly parent: Option.Option<Tracer.AnySpan>,
    readonly context: Context.Context<never>,
    links: ReadonlyArray<Tracer.SpanLink>,
    startTime: bigint,
    readonly kind: Tracer.SpanKind
  ) {
    this.traceId = Option.isSome(parent) ? parent.value.traceId : hex(32)
    this.links = [...links]
    this.status = { _tag: "Started", startTime }
  }
  end(endTime: bigint, exit: Exit.Exit<unknown, unknown>): void {
    this.status = { _tag: "Ended", startTime: this.status.startTime, endTime, exit }
  }
  attribute(key: string, value: unknown): void {
    this.attributes.set(key, value)
  }
  event(): void {}
  addLinks(links: ReadonlyArray<Tracer.SpanLink>): void {
    this.links.push(...links)
  }
}

// Effect's built-in tracer, which every runtime has unless a tracer is installed.
const builtInTracer = Runtime.runSync(Runtime.defaultRuntime, Effect.tracer)

/**
 * Tracing off. Effect's built-in tracer would still make a full span for every `withSpan` (a sampled one, so
 * nothing below it is skipped); this one makes unsampled spans, so the hot path makes no child spans at all
 * (see src/app/Span.ts) while log lines keep a trace id and span id to correlate them. A tracer installed by
 * someone else (a test's recorder, an application embedding the service) is left in place.
 */
export const TracingOffLive: Layer.Layer<never> = Layer.unwrapEffect(
  Effect.map(Effect.tracer, (current) =>
    current === builtInTracer
      ? tracerWithoutContext(
          (name, parent, context, links, startTime, kind) =>
            new UnrecordedSpan(name, parent, context, links, startTime, kind)
        )
      : Layer.empty
  )
)

export const config = Config.all({
  enabled: Config.boolean("TRACING_ENABLED").pipe(Config.option),
  collector: dialAddress("TRACING_COLLECTOR_URL").pipe(Config.option),
  serviceName: Config.string("TRACING_SERVICE_NAME").pipe(Config.withDefault("effect-microservice")),
  sampleRatio: ratio("TRACING_SAMPLE_RATIO").pipe(Config.withDefault(1)),
  // OpenTelemetry's own variable for it; grpc is not offered (the collector URL is OTLP/HTTP's, as in the Go service).
  protocol: Config.literal(
    "http/protobuf",
    "http/json"
  )("OTEL_EXPORTER_OTLP_PROTOCOL").pipe(Config.withDefault("http/protobuf" as const)),
  shutdownTimeout: duration("TRACING_SHUTDOWN_TIMEOUT").pipe(Config.withDefault(Duration.seconds(5))),
  environment: Config.string("DEPLOYMENT_ENVIRONMENT").pipe(Config.withDefault("development"))
})

/** TRACING_ENABLED when set; by default, on when TRACING_COLLECTOR_URL is set. */
export const enabled = Config.map(config, (settings) =>
  Option.getOrElse(settings.enabled, () => Option.isSome(settings.collector))
)

/** Enabled without a collector URL: the Go service's default, localhost:4318. */
export const layerConfig = Layer.unwrapEffect(
  Effect.map(config, ({ collector, enabled: _, ...settings }) =>
    TracingLive({
      ...settings,
      collector: Option.match(collector, {
        onNone: () => "localhost:4318",
        onSome: (address) => hostPort(address.host, address.port)
      }),
      serviceVersion: VERSION
    })
  )
)
