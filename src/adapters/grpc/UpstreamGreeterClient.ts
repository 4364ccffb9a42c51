import { readFileSync } from "node:fs"
import { HttpTraceContext } from "@effect/platform"
import { credentials, status as GrpcCode, Metadata, type ServiceError } from "@grpc/grpc-js"
import { Config, Duration, Effect, Either, FiberRef, Layer, Option } from "effect"
import { DeadlineExceeded, DependencyUnavailable, UserNotFound } from "../../domain/errors.js"
import type { UserId } from "../../domain/User.js"
import { RequestDeadline } from "../../ports/RequestContext.js"
import { UpstreamGreeter } from "../../ports/UpstreamGreeter.js"
import { dialAddress, duration, hostPort, tlsFiles } from "../config/Settings.js"
import { makeCircuitBreaker } from "../resilience/CircuitBreaker.js"
import { GreeterClient, type SayHelloResponse } from "./generated/hello_world/hello_world.js"

export interface UpstreamGreeterOptions {
  /** host:port of the upstream Greeter (GREETER_UPSTREAM_URL). */
  readonly address: string
  /** Budget of one call when the request has no deadline of its own; never more than what the request has left. */
  readonly timeout: Duration.Duration
  readonly breakerThreshold: number
  readonly breakerResetAfter: Duration.Duration
  /** TLS when a CA is set (the upstream's certificate must chain to it); mTLS with a client certificate too. */
  readonly tls?: {
    readonly certFile: Option.Option<string>
    readonly keyFile: Option.Option<string>
    readonly caFile: Option.Option<string>
  }
}

/**
 * UpstreamGreeter over gRPC (grpc-js). Each call runs in a client span whose W3C trace context goes out as
 * `traceparent` metadata, so the upstream continues this trace; its deadline is what is left of this request's.
 */
export const GrpcUpstreamGreeterLive = (options: UpstreamGreeterOptions) =>
  Layer.scoped(
    UpstreamGreeter,
    Effect.gen(function* () {
      const tls = options.tls
      const channelCredentials =
        tls === undefined || Option.isNone(tls.caFile)
          ? credentials.createInsecure()
          : yield* Effect.sync(() =>
              credentials.createSsl(
                readFileSync(Option.getOrThrow(tls.caFile)),
                Option.map(tls.keyFile, (path) => readFileSync(path)).pipe(Option.getOrNull),
                Option.map(tls.certFile, (path) => readFileSync(path)).pipe(Option.getOrNull)
              )
            )
      const client = yield* Effect.acquireRelease(
        Effect.sync(() => new GreeterClient(options.address, channelCredentials)),
        (c) => Effect.sync(() => c.close())
      )
      const breaker = yield* makeCircuitBreaker({
        name: "Upstream",
        failureThreshold: options.breakerThreshold,
        resetAfter: options.breakerResetAfter
      })
      // A deadline is reported as the budget the call actually had (the request's remaining time when shorter).
      const failure = (id: UserId, error: ServiceError, budgetMs: number) =>
        error.code === GrpcCode.NOT_FOUND
          ? new UserNotFound({ id })
          : error.code === GrpcCode.DEADLINE_EXCEEDED
            ? new DeadlineExceeded({ timeoutMs: budgetMs })
            : new DependencyUnavailable({
                dependency: "upstream",
                operation: "sayHello",
                cause: `${GrpcCode[error.code]}: ${error.details}`
              })

      const sayHello = (id: UserId) =>
        Effect.gen(function* () {
          const metadata = new Metadata()
          const span = yield* Effect.currentSpan.pipe(Effect.option)
          if (Option.isSome(span)) {
            for (const [key, value] of Object.entries(HttpTraceContext.toHeaders(span.value))) metadata.set(key, value)
          }
          const startedAt = Date.now()
          const budgetEnd = startedAt + Duration.toMillis(options.timeout)
          const requestEnd = yield* FiberRef.get(RequestDeadline)
          const deadline = Math.min(
            budgetEnd,
            Option.getOrElse(requestEnd, () => budgetEnd)
          )
          // Through the breaker: NOT_FOUND is an answer (the upstream works), so it does not count as a failure.
          const answer = yield* breaker
            .protect(
              Effect.async<Either.Either<SayHelloResponse, UserNotFound>, DeadlineExceeded | DependencyUnavailable>(
                (resume) => {
                  const call = client.sayHello({ userId: id }, metadata, { deadline }, (error, reply) => {
                    if (!error) return resume(Effect.succeed(Either.right(reply)))
                    const mapped = failure(id, error, Math.max(0, deadline - startedAt))
                    resume(mapped._tag === "UserNotFound" ? Effect.succeed(Either.left(mapped)) : Effect.fail(mapped))
                  })
                  return Effect.sync(() => call.cancel())
                }
              )
            )
            .pipe(
              Effect.catchTag("BreakerOpen", (open) =>
                Effect.fail(
                  new DependencyUnavailable({ dependency: "upstream", operation: "sayHello", cause: open.message })
                )
              )
            )
          if (Either.isLeft(answer)) return yield* answer.left
        }).pipe(
          Effect.withSpan("UpstreamGreeter.sayHello", {
            kind: "client",
            attributes: { "rpc.system": "grpc", "rpc.service": "hello_world.Greeter", "rpc.method": "SayHello" }
          })
        )

      return UpstreamGreeter.of({ sayHello })
    })
  )

/** GREETER_UPSTREAM_URL: setting it is what selects this adapter (see the composition root). */
export const address = dialAddress("GREETER_UPSTREAM_URL")

export const config = Config.all({
  timeout: duration("GREETER_UPSTREAM_TIMEOUT").pipe(Config.withDefault(Duration.seconds(5))),
  tls: tlsFiles(
    {
      cert: "GREETER_UPSTREAM_TLS_CERT_FILE",
      key: "GREETER_UPSTREAM_TLS_KEY_FILE",
      ca: "GREETER_UPSTREAM_TLS_CA_FILE"
    },
    false
  )
})

export const layerConfig = Layer.unwrapEffect(
  Effect.map(Config.all([address, config]), ([upstream, settings]) =>
    GrpcUpstreamGreeterLive({
      ...settings,
      address: hostPort(upstream.host, upstream.port),
      breakerThreshold: 5,
      breakerResetAfter: Duration.seconds(2)
    })
  )
)
