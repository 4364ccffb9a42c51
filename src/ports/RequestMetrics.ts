import { Context, type Effect } from "effect"

/** What the driving adapters (gRPC, HTTP) record about each request. Implemented by the metrics adapter. */
export class RequestMetrics extends Context.Tag("effect-microservice/RequestMetrics")<
  RequestMetrics,
  {
    /** A gRPC call started (`method` is the full name, `/hello_world.Greeter/SayHello`); returns its end. */
    readonly rpcStarted: (method: string) => (status: string) => void
    readonly httpCompleted: (method: string, route: string, status: number, seconds: number) => void
  }
>() {
  /** Records nothing: for tests and tools that do not serve metrics. */
  static readonly noop = Context.make(RequestMetrics, {
    rpcStarted: () => () => {},
    httpCompleted: () => {}
  })
}

/** The metrics scrape, served at GET /metrics. */
export class MetricsEndpoint extends Context.Tag("effect-microservice/MetricsEndpoint")<
  MetricsEndpoint,
  { readonly contentType: string; readonly render: Effect.Effect<string> }
>() {}
