import { readFileSync } from "node:fs"
import { Server, ServerCredentials } from "@grpc/grpc-js"
import { Config, Context, Data, Duration, Effect, Fiber, FiberId, Layer, Option, Supervisor } from "effect"
import { Lifecycle } from "../../ports/Lifecycle.js"
import { DrainCutShort } from "../../ports/Shutdown.js"
import { duration, hostPort, intInRange, listenAddress, tlsFiles } from "../config/Settings.js"
import { type EdgeOptions, makeEdgePipeline } from "../edge/Pipeline.js"
import { HealthService } from "./generated/grpc/health/v1/health.js"
import { GreeterService } from "./generated/hello_world/hello_world.js"
import { UserServiceService } from "./generated/users/v1/users.js"
import { makeGreeterHandlers, makeUserServiceHandlers } from "./Handlers.js"
import { makeHealthService } from "./HealthService.js"
import { addReflection } from "./Reflection.js"
import { tolerant } from "./Tolerant.js"

/** The services whose health grpc.health.v1 reports (besides "", the whole server). */
const SERVED = [GreeterService.sayHello.path, UserServiceService.getUser.path].map((path) => path.split("/")[1] ?? "")

/** The server's own settings, and the edge policy's (REQUEST_TIMEOUT, admission, auth), which every door shares. */
export interface GrpcServerOptions extends EdgeOptions {
  /** Empty host: every interface (IPv6 and IPv4 where the host has both). Port 0: a free port. */
  readonly host: string
  readonly port: number
  readonly maxReceiveMessageBytes: number
  readonly maxSendMessageBytes: number
  /** HTTP/2 streams (calls) one connection may have open at once; a client queues the rest. */
  readonly maxConcurrentStreams: number
  readonly reflection: boolean
  /** How long in-flight calls may take to finish at shutdown before they are cut. */
  readonly shutdownTimeout: Duration.Duration
  /** TLS when a certificate is set; mTLS when a client CA is set too (then only clients it signed get in). */
  readonly tls: {
    readonly certFile: Option.Option<string>
    readonly keyFile: Option.Option<string>
    readonly caFile: Option.Option<string>
  }
}

/** The running server: where it listens (the actual port when 0 was asked for). */
export class GrpcServer extends Context.Tag("effect-microservice/GrpcServer")<
  GrpcServer,
  { readonly host: string; readonly port: number }
>() {}

export class GrpcBindError extends Data.TaggedError("GrpcBindError")<{
  readonly address: string
  readonly cause: Error
}> {
  override get message(): string {
    return `gRPC server cannot listen on ${this.address}: ${this.cause.message}`
  }
}

const read = (path: string) =>
  Effect.try({
    try: () => readFileSync(path),
    catch: (cause) =>
      new GrpcBindError({ address: path, cause: cause instanceof Error ? cause : new Error(String(cause)) })
  })

/**
 * Plaintext, TLS, or mTLS. With a client CA the server requires a client certificate signed by that CA only:
 * grpc-js passes it to Node as the only trust root, never Node's public CA bundle (which a null CA would use).
 */
const serverCredentials = (tls: GrpcServerOptions["tls"]) =>
  Effect.gen(function* () {
    if (Option.isNone(tls.certFile) || Option.isNone(tls.keyFile)) return ServerCredentials.createInsecure()
    const pair = { cert_chain: yield* read(tls.certFile.value), private_key: yield* read(tls.keyFile.value) }
    if (Option.isNone(tls.caFile)) return ServerCredentials.createSsl(null, [pair], false)
    return ServerCredentials.createSsl(yield* read(tls.caFile.value), [pair], true)
  })

const bind = (server: Server, host: string, port: number, credentials: ServerCredentials) =>
  Effect.async<number, GrpcBindError>((resume) => {
    const address = hostPort(host, port)
    server.bindAsync(address, credentials, (cause, bound) =>
      resume(cause ? Effect.fail(new GrpcBindError({ address, cause })) : Effect.succeed(bound))
    )
  })

/**
 * tryShutdown lets in-flight calls finish but has no timeout of its own and can hang: it is bounded by
 * GRPC_SHUTDOWN_TIMEOUT, and ended at once by a second stop signal (DrainCutShort); then the server is forced.
 * forceShutdown alone does not release a call in flight: with channelz off it does not even destroy the
 * connections (grpc-js tracks them for forceShutdown only when channelz is on), and the call's fiber keeps
 * waiting (on Postgres, say) until the process exits. So every call still running is interrupted as well, and
 * answered at once (CANCELLED) by its handler; its SQL query is cancelled, and the database closes without it.
 */
const shutdown = (
  server: Server,
  timeout: Duration.Duration,
  calls: Supervisor.Supervisor<Array<Fiber.RuntimeFiber<unknown, unknown>>>,
  cutShort: Effect.Effect<void>
) =>
  Effect.gen(function* () {
    yield* Effect.logInfo("Draining gRPC calls").pipe(Effect.annotateLogs({ timeout_ms: Duration.toMillis(timeout) }))
    // Finalizers run uninterruptibly: each side of the race is made interruptible, or the loser could not be
    // stopped, only outlasted.
    const ended = yield* Effect.raceAll([
      Effect.async<"drained">((resume) => server.tryShutdown(() => resume(Effect.succeed("drained")))).pipe(
        Effect.interruptible
      ),
      Effect.sleep(timeout).pipe(Effect.as("timeout" as const), Effect.interruptible),
      cutShort.pipe(Effect.as("cut" as const), Effect.interruptible)
    ])
    if (ended === "drained") return yield* Effect.logInfo("gRPC server stopped")
    server.forceShutdown()
    const running = yield* calls.value
    for (const fiber of running) fiber.unsafeInterruptAsFork(FiberId.none)
    // Bounded: a call's cleanup (cancelling its SQL query) must not hold the stop.
    yield* Fiber.awaitAll(running).pipe(Effect.interruptible, Effect.timeoutOption(CALLS_INTERRUPT_TIMEOUT))
    yield* Effect.logWarning(
      ended === "timeout"
        ? "gRPC calls still running at the shutdown timeout were cut"
        : "gRPC drain cut short by a second signal"
    ).pipe(Effect.annotateLogs({ calls_cut: running.length }))
  })

/** How long the calls cut at shutdown get to end (their fibers' finalizers) before the stop goes on. */
const CALLS_INTERRUPT_TIMEOUT = Duration.seconds(1)

export const GrpcServerLive = (options: GrpcServerOptions) =>
  Layer.scoped(
    GrpcServer,
    Effect.gen(function* () {
      // Every fiber the handlers start (one per call) is tracked, so that calls still running when the server is
      // forced at shutdown can be interrupted.
      const calls = Supervisor.unsafeTrack()
      const runtime = yield* Effect.runtime<never>().pipe(Effect.supervised(calls))
      const cutShort = (yield* DrainCutShort).await
      const server = new Server({
        "grpc.max_receive_message_length": options.maxReceiveMessageBytes,
        "grpc.max_send_message_length": options.maxSendMessageBytes,
        // grpc-js tracks every call for channelz by default; no channelz service is exposed here, so that work
        // (a few percent of each call, see docs/performance.md) would serve nobody.
        "grpc.enable_channelz": 0,
        "grpc.max_concurrent_streams": options.maxConcurrentStreams
      })
      const pipeline = makeEdgePipeline("grpc", options, runtime)
      server.addService(tolerant(GreeterService), yield* makeGreeterHandlers(pipeline))
      server.addService(tolerant(UserServiceService), yield* makeUserServiceHandlers(pipeline))
      server.addService(HealthService, yield* makeHealthService(SERVED))
      if (options.reflection) addReflection(server)

      const credentials = yield* serverCredentials(options.tls)
      // An empty host means every interface: "::" covers IPv4 too on a dual-stack host; fall back to IPv4 only.
      const listen =
        options.host === ""
          ? bind(server, "::", options.port, credentials).pipe(
              Effect.map((port) => ({ host: "::", port })),
              Effect.orElse(() =>
                bind(server, "0.0.0.0", options.port, credentials).pipe(
                  Effect.map((port) => ({ host: "0.0.0.0", port }))
                )
              )
            )
          : bind(server, options.host, options.port, credentials).pipe(
              Effect.map((port) => ({ host: options.host, port }))
            )
      const address = yield* Effect.acquireRelease(listen, () =>
        shutdown(server, options.shutdownTimeout, calls, cutShort)
      )
      yield* Effect.logInfo("gRPC server listening").pipe(
        Effect.annotateLogs({
          address: hostPort(address.host, address.port),
          security: Option.isNone(options.tls.certFile)
            ? "plaintext"
            : Option.isNone(options.tls.caFile)
              ? "tls"
              : "mtls"
        })
      )
      yield* (yield* Lifecycle).started("grpc")
      return address
    })
  )

/** Also the HTTP port's certificate when HTTP_TLS_* is unset (one certificate for the service). */
export const tlsConfig = tlsFiles(
  { cert: "GRPC_TLS_CERT_FILE", key: "GRPC_TLS_KEY_FILE", ca: "GRPC_TLS_CLIENT_CA_FILE" },
  true
)

const messageBytes = (name: string, defaultBytes: number) =>
  intInRange(name, 1024, 64 * 1024 * 1024).pipe(Config.withDefault(defaultBytes))

export const config = Config.all({
  address: listenAddress("GRPC_SERVER_URL").pipe(Config.withDefault({ host: "", port: 5000 })),
  maxReceiveMessageBytes: messageBytes("GRPC_MAX_RECEIVE_MESSAGE_BYTES", 1024 * 1024),
  maxSendMessageBytes: messageBytes("GRPC_MAX_SEND_MESSAGE_BYTES", 4 * 1024 * 1024),
  maxConcurrentStreams: intInRange("GRPC_MAX_CONCURRENT_STREAMS", 1, 1_000_000).pipe(Config.option),
  reflection: Config.boolean("GRPC_REFLECTION").pipe(Config.withDefault(true)),
  shutdownTimeout: duration("GRPC_SHUTDOWN_TIMEOUT").pipe(Config.withDefault(Duration.seconds(10))),
  tls: tlsConfig
})

/**
 * By default a quarter of MAX_IN_FLIGHT (16 to 100; 16 with the adaptive limit, a quarter of where it starts), so
 * four connections fill the admission limit and no one connection takes every slot. A client's calls beyond it
 * wait in the client (HTTP/2 flow control), which costs the server nothing, instead of being refused one by one:
 * under a burst the server spends its CPU on calls it can serve.
 */
const defaultMaxConcurrentStreams = (maxInFlight: number | "auto"): number =>
  maxInFlight === "auto" ? 16 : Math.min(100, Math.max(16, Math.floor(maxInFlight / 4)))

/** The server on its own settings, under the edge policy every door shares. */
export const layerConfig = (edge: EdgeOptions) =>
  Layer.unwrapEffect(
    Effect.map(config, ({ address, maxConcurrentStreams, ...settings }) =>
      GrpcServerLive({
        ...settings,
        host: address.host,
        port: address.port,
        maxConcurrentStreams: Option.getOrElse(maxConcurrentStreams, () =>
          defaultMaxConcurrentStreams(edge.admission.maxInFlight)
        ),
        requestTimeout: edge.requestTimeout,
        auth: edge.auth,
        writeScope: edge.writeScope,
        admission: edge.admission
      })
    )
  )
