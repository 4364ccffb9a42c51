import { Context, type Effect } from "effect"

/** What the driving adapters (gRPC, HTTP) record about each request. Implemented by the metrics adapter. */
export class RequestMetrics extends Context.Tag("effect-microservice/RequestMetrics")<
  RequestMetrics,
  {
    /** A gRPC call started (`method` is the full name, `/hello_world.Greeter/SayHello`); returns its end. */
    readonly rpcStarted: (method: string) => (status: string) => void
    /**
     * A gRPC method the service serves (called once per method, when its handler is made), so its request series
     * exist at zero from start: an alert on the absence of traffic can then fire for a service never called.
     */
    readonly rpcDeclared?: (method: string) => void
    readonly httpCompleted: (method: string, route: string, status: number, seconds: number) => void
    /**
     * A front door's admission limit (calls in flight it admits; adaptive with MAX_IN_FLIGHT=auto), read at each
     * scrape as `admission_limit{door}`. Registering a door again replaces its reader.
     */
    readonly admissionLimit?: (door: string, read: () => number) => void
  }
>() {
  /** Records nothing: for tests and tools that do not serve metrics. */
  static readonly noop = Context.make(RequestMetrics, {
    rpcStarted: () => () => {},
    rpcDeclared: () => {},
    httpCompleted: () => {},
    admissionLimit: () => {}
  })
}

/** The metrics scrape, served at GET /metrics. */
export class MetricsEndpoint extends Context.Tag("effect-microservice/MetricsEndpoint")<
  MetricsEndpoint,
  { readonly contentType: string; readonly render: Effect.Effect<string> }
>() {}
