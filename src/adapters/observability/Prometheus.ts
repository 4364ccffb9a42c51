import { monitorEventLoopDelay } from "node:perf_hooks"
import { Config, Context, Effect, Layer } from "effect"
import client from "prom-client"
import { MetricsEndpoint, RequestMetrics } from "../../ports/RequestMetrics.js"
import { VERSION } from "../config/Version.js"
import { renderEffectMetrics } from "./EffectMetricsText.js"

/** The Go code names a declared method's request counter starts with (see `rpcDeclared`). */
const DECLARED_STATUSES = ["OK", "Unknown", "DeadlineExceeded", "Unavailable", "Internal", "DataLoss"] as const

export interface PrometheusOptions {
  /** Adds prom-client's process and Node.js runtime metrics (METRICS_ENABLE_DEFAULT_METRICS). */
  readonly defaultMetrics: boolean
  readonly version: string
  readonly commit: string
}

/**
 * Prometheus metrics in a private registry (nothing global, so tests and several instances do not collide):
 * the Go service's series unchanged, so its Grafana dashboard works as it is:
 *   grpc_requests_total{method,status}, grpc_request_duration_seconds{method} (buckets 0.005 … 10),
 * plus RPCs in flight, HTTP requests, the admission limit of each front door (admission_limit{door}), event-loop lag, build info, and every Effect metric (cache, loader, SQL,
 * pool). `status` is the Go code name (OK, NotFound, InvalidArgument, ...).
 */
export const PrometheusLive = (options: PrometheusOptions) => {
  const registry = new client.Registry()
  const rpcs = new client.Counter({
    name: "grpc_requests_total",
    help: "Total number of gRPC requests",
    labelNames: ["method", "status"] as const,
    registers: [registry]
  })
  const rpcDuration = new client.Histogram({
    name: "grpc_request_duration_seconds",
    help: "Duration of gRPC requests in seconds",
    labelNames: ["method"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry]
  })
  const inFlight = new client.Gauge({
    name: "grpc_requests_in_flight",
    help: "gRPC requests being served",
    labelNames: ["method"] as const,
    registers: [registry]
  })
  const httpRequests = new client.Counter({
    name: "http_requests_total",
    help: "Total number of HTTP requests",
    labelNames: ["method", "route", "status"] as const,
    registers: [registry]
  })
  const httpDuration = new client.Histogram({
    name: "http_request_duration_seconds",
    help: "Duration of HTTP requests in seconds",
    labelNames: ["method", "route"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry]
  })
  const lag = monitorEventLoopDelay({ resolution: 10 })
  new client.Gauge({
    name: "event_loop_lag_seconds",
    help: "Event-loop delay: the 99th percentile since the previous scrape",
    registers: [registry],
    collect() {
      this.set(Number.isFinite(lag.percentile(99)) ? lag.percentile(99) / 1e9 : 0)
      lag.reset()
    }
  })
  const admissionLimits = new Map<string, () => number>()
  new client.Gauge({
    name: "admission_limit",
    help: "Calls in flight a front door admits (MAX_IN_FLIGHT; adaptive with MAX_IN_FLIGHT=auto)",
    labelNames: ["door"] as const,
    registers: [registry],
    collect() {
      for (const [door, read] of admissionLimits) this.set({ door }, read())
    }
  })
  new client.Gauge({
    name: "build_info",
    help: "The running build: version and commit (value 1)",
    labelNames: ["version", "commit"] as const,
    registers: [registry]
  }).set({ version: options.version, commit: options.commit }, 1)
  if (options.defaultMetrics) {
    client.collectDefaultMetrics({ register: registry })
    // Gauges named *_total break Prometheus naming (promtool check metrics); the same counts remain in
    // nodejs_active_handles, nodejs_active_requests and nodejs_active_resources.
    for (const name of [
      "nodejs_active_handles_total",
      "nodejs_active_requests_total",
      "nodejs_active_resources_total"
    ]) {
      registry.removeSingleMetric(name)
    }
  }

  // Label children are looked up once per method and code, not per call (prom-client hashes the labels object
  // on every `inc({...})`): each method gets its in-flight gauge, its duration histogram and a counter per code.
  const rpcMethod = (method: string) => {
    const gauge = inFlight.labels(method)
    const timer = rpcDuration.labels(method)
    const counters = new Map<string, client.Counter.Internal>()
    const counter = (status: string) => {
      let child = counters.get(status)
      if (child === undefined) {
        child = rpcs.labels(method, status)
        counters.set(status, child)
      }
      return child
    }
    return { gauge, timer, counter }
  }
  const methods = new Map<string, ReturnType<typeof rpcMethod>>()
  const childrenOf = (method: string) => {
    let children = methods.get(method)
    if (children === undefined) {
      children = rpcMethod(method)
      methods.set(method, children)
    }
    return children
  }

  const metrics = RequestMetrics.of({
    rpcStarted: (method) => {
      const { gauge, timer, counter } = childrenOf(method)
      gauge.inc()
      const started = performance.now()
      return (status) => {
        gauge.dec()
        counter(status).inc()
        timer.observe((performance.now() - started) / 1000)
      }
    },
    rpcDeclared: (method) => {
      // prom-client exports a labelled series only once it is touched. At zero from start: OK, so that a service
      // never called shows a flat rate (the GrpcTrafficAbsent alert), and the server-side codes of the error
      // ratio's numerator (deploy/prometheus/alerts.yml), so that rate() counts the first failure after start
      // instead of taking a series born at 1 as its baseline (likewise the duration histogram and the in-flight
      // gauge). The client-side codes (NotFound, InvalidArgument, ...) appear with their first call.
      const { gauge, counter } = childrenOf(method)
      for (const status of DECLARED_STATUSES) counter(status).inc(0)
      gauge.set(0)
      rpcDuration.zero({ method })
    },
    httpCompleted: (method, route, status, seconds) => {
      httpRequests.inc({ method, route, status: String(status) })
      httpDuration.observe({ method, route }, seconds)
    },
    admissionLimit: (door, read) => {
      admissionLimits.set(door, read)
    }
  })

  return Layer.scopedContext(
    Effect.acquireRelease(
      Effect.sync(() => {
        lag.enable()
        return Context.make(RequestMetrics, metrics).pipe(
          Context.add(MetricsEndpoint, {
            contentType: registry.contentType,
            render: Effect.promise(() => registry.metrics()).pipe(Effect.map((text) => text + renderEffectMetrics()))
          })
        )
      }),
      () => Effect.sync(() => lag.disable())
    )
  )
}

/** METRICS_ENABLED=false records nothing and makes /metrics a 404 (see the composition root). */
export const enabled = Config.boolean("METRICS_ENABLED").pipe(Config.withDefault(true))

export const config = Config.all({
  defaultMetrics: Config.boolean("METRICS_ENABLE_DEFAULT_METRICS").pipe(Config.withDefault(false)),
  commit: Config.string("BUILD_COMMIT").pipe(Config.withDefault("unknown"))
})

export const layerConfig = Layer.unwrapEffect(
  Effect.map(config, (settings) => PrometheusLive({ ...settings, version: VERSION }))
)
