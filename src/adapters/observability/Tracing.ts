import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import type { ExportResult } from "@opentelemetry/core"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  type ReadableSpan,
  type SpanExporter,
  TraceIdRatioBasedSampler
} from "@opentelemetry/sdk-trace-base"
import { type Duration, Effect, Layer, Metric, Tracer } from "effect"

export interface TracingOptions {
  /** host:port of an OTLP/HTTP collector (as in the Go service); spans go to http://HOST:PORT/v1/traces. */
  readonly collector: string
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

/**
 * The OpenTelemetry tracer of @effect/opentelemetry, minus one thing: it runs every step of every fiber inside
 * OpenTelemetry's ambient context (`context.with`, an AsyncLocalStorage run per step), for libraries that read
 * the active span from there (OpenTelemetry auto-instrumentation). Nothing here does: spans get their parent from
 * Effect, and trace context crosses services in our own headers. Skipping it makes tracing much cheaper per call.
 */
const withoutAmbientContext = Layer.unwrapEffect(
  Effect.map(Effect.tracer, (otel) =>
    Layer.setTracer(
      Tracer.make({
        span: (name, parent, context, links, startTime, kind, options) =>
          otel.span(name, parent, context, links, startTime, kind, options),
        context: (execution) => execution()
      })
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
      counting(new OTLPTraceExporter({ url: `http://${options.collector}/v1/traces`, timeoutMillis: 5000 })),
      { maxQueueSize: 2048, exportTimeoutMillis: 5000 }
    ),
    tracerConfig: { sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(options.sampleRatio) }) },
    shutdownTimeout: options.shutdownTimeout
  })).pipe(Layer.orDie)
