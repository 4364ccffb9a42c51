import { randomUUID } from "node:crypto"
import { EventEmitter } from "node:events"
import { readFileSync } from "node:fs"
import { createServer as createHttpServer, IncomingMessage, type Server, ServerResponse, STATUS_CODES } from "node:http"
import { createServer as createHttpsServer } from "node:https"
import { Socket } from "node:net"
import type { Duplex } from "node:stream"
import {
  type HttpApp,
  HttpRouter,
  HttpServer,
  HttpServerError,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Cause, Config, Duration, Effect, Layer, Option, Runtime, Scope } from "effect"
import type { AuditTrail } from "../../app/Audit.js"
import type { Greeter } from "../../app/Greeter.js"
import type { Users } from "../../app/Users.js"
import { Lifecycle, type Readiness } from "../../ports/Lifecycle.js"
import { MetricsEndpoint, RequestMetrics } from "../../ports/RequestMetrics.js"
import { duration, intInRange, listenAddress, type TlsFiles, tlsFiles } from "../config/Settings.js"
import { statusOfError } from "../edge/ErrorStatus.js"
import { type EdgeOptions, makeEdgePipeline } from "../edge/Pipeline.js"
import { requestIdOr } from "../edge/RequestId.js"
import { tlsConfig as grpcTlsConfig } from "../grpc/GrpcServer.js"
import { rpcApp } from "../rpc/RpcServer.js"
import {
  type BodyGateOptions,
  checkHeaders,
  isClosing,
  noBodyAllowed,
  pathOf,
  type Refusal,
  readBody,
  refuse
} from "./BodyGate.js"
import { methodNotAllowed, noRoute, openApiDocument, restApp, restOperationOf, toProblem } from "./RestApi.js"

export interface HttpServerOptions {
  /** Empty host: every interface. Port 0: a free port (read it from HttpServer.HttpServer's address). */
  readonly host: string
  readonly port: number
  /** At shutdown, how long open connections may finish before they are cut. */
  readonly shutdownTimeout: Duration.Duration
  /** TLS on this port (HTTP_TLS_*, or the gRPC port's files), with a client CA for mTLS; undefined: plaintext. */
  readonly tls?:
    | { readonly certFile: string; readonly keyFile: string; readonly caFile?: string | undefined }
    | undefined
  /** HEALTH_SERVER_URL: a plain port that answers only the probes. */
  readonly health?: { readonly host: string; readonly port: number } | undefined
  /** The largest request body any route accepts (HTTP_MAX_BODY_BYTES); larger ones are refused with 413 unread. */
  readonly maxBodyBytes: number
  /** Admission, authentication and the request timeout for REST (/v1) and RPC (/rpc): gRPC's settings. */
  readonly edge: EdgeOptions
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  HttpServerResponse.unsafeJson(body, { status, headers })

/** The HTTP request an RPC call came in: its request id, and the caller's subject once authenticated. */
export interface HttpCall {
  readonly requestId: string
  subject: string | undefined
}

let callSeq = 0

/** How deep a request body may nest arrays and objects (the API's messages nest three levels). */
const MAX_JSON_DEPTH = 64
/** How long a request body may take to arrive. */
const BODY_TIMEOUT_MS = 10_000
/** How many bodies of the largest size may be held at once, across all connections (the rest get 503). */
const BUFFERED_BODIES = 32
/** How many RPC messages one /rpc request may carry (each gets its own answer: a batch must not be a lever). */
const MAX_RPC_MESSAGES = 64
/** The @effect/rpc HTTP protocol's own media type: like JSON, a browser cannot send it cross-site without a preflight. */
const RPC_MEDIA_TYPES = ["application/ndjson"]

const GET_ONLY = ["/livez", "/readyz", "/startupz", "/metrics"] as const

/** The route label of a request: a known path, or "unmatched" (never the raw path: unbounded cardinality). */
const routeOf = (url: string) => {
  const path = pathOf(url)
  if (path === "/rpc") return "/rpc"
  if (path === "/v1/users") return "/v1/users"
  if (path.startsWith("/v1/users/")) return "/v1/users/{id}"
  return GET_ONLY.find((known) => known === path) ?? "unmatched"
}

/**
 * Health endpoints (answered by GatedServer, below, before this router) and /metrics, for probes and load
 * balancers:
 * - /livez: 200 while the process and its event loop run; checks no dependency;
 * - /readyz: 200 ready or degraded (a non-critical check fails), 503 unready (a critical check fails, still
 *   starting, or shutting down), with every check's result;
 * - /startupz: 503 until migrations are done and both servers listen, then 200;
 * - /metrics: the Prometheus exposition.
 */
/** The use cases the REST and RPC doors call. */
type UseCases = Users | Greeter | AuditTrail

const router = (options: HttpServerOptions) =>
  Effect.all([
    Lifecycle,
    Effect.serviceOption(MetricsEndpoint),
    RequestMetrics,
    Effect.context<UseCases>(),
    Effect.scope,
    Effect.runtime<never>()
  ]).pipe(
    Effect.flatMap(([lifecycle, endpoint, metrics, useCases, scope, runtime]) => {
      // REST and RPC share one pipeline (one in-flight count); gRPC has its own, with the same settings.
      const pipeline = makeEdgePipeline("http", options.edge, runtime)
      // The peer's address reaches the RPC middleware in a header whose name no client can guess (so none can
      // choose its own rate-limit bucket).
      const peerHeader = `x-edge-peer-${randomUUID()}`
      // The same for the caller's identity: the HTTP request's Authorization header only. An RPC message carries
      // headers of its own, which @effect/rpc merges over the request's; none can name this one.
      const authHeader = `x-edge-authorization-${randomUUID()}`
      // Each request's record (its request id, and the caller's subject once authenticated) for its log line, found
      // by a key in a header no client can name.
      const callHeader = `x-edge-call-${randomUUID()}`
      const calls = new Map<string, HttpCall>()
      // REST and RPC are built on their first request, on the use cases (built before this server), in this
      // server's scope so they live as long as it does.
      const lazily = <E, R>(app: Effect.Effect<HttpApp.Default<E, R>, never, UseCases | Scope.Scope>) =>
        Effect.cached(app.pipe(Effect.provide(useCases), Scope.extend(scope)))
      return Effect.map(
        Effect.all([
          lazily(restApp),
          lazily(
            rpcApp(pipeline, {
              peer: peerHeader,
              authorization: authHeader,
              call: callHeader,
              httpCall: (key) => (key === undefined ? undefined : calls.get(key))
            })
          )
        ]),
        ([rest, rpc]) => {
          const restApi = Effect.flatten(rest)
          // REST calls through the same pipeline; its refusals are the API's JSON problems.
          const guardedRest = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
            pipeline
              .guard(
                {
                  operation: restOperationOf(request.method, request.url),
                  caller: Option.getOrElse(request.remoteAddress, () => "unknown"),
                  authorization: request.headers.authorization,
                  onSubject: (subject) => {
                    const call = calls.get(request.headers[callHeader] ?? "")
                    if (call !== undefined) call.subject = subject
                  }
                },
                restApi
              )
              .pipe(Effect.catchAll((refused) => Effect.succeed(json(statusOfError(refused).http, toProblem(refused)))))
          )
          const rpcWithPeer = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
            Effect.provideService(
              Effect.flatten(rpc),
              HttpServerRequest.HttpServerRequest,
              request.modify({
                headers: {
                  ...request.headers,
                  [peerHeader]: Option.getOrElse(request.remoteAddress, () => "unknown"),
                  [authHeader]: request.headers.authorization ?? ""
                }
              })
            )
          )
          return [lifecycle, endpoint, metrics, guardedRest, rpcWithPeer, restApi, calls, callHeader] as const
        }
      )
    }),
    Effect.map(([lifecycle, endpoint, metrics, rest, rpc, docs, calls, callHeader]) =>
      HttpRouter.empty.pipe(
        HttpRouter.post("/rpc", rpc),
        HttpRouter.mountApp("/v1", rest, { includePrefix: true }),
        HttpRouter.mountApp("/docs", docs, { includePrefix: true }),
        HttpRouter.get("/openapi.json", Effect.succeed(HttpServerResponse.unsafeJson(openApiDocument))),
        HttpRouter.get(
          "/metrics",
          // METRICS_ENABLED=false: there is no exposition, and /metrics is a 404 like any unknown path.
          Option.match(endpoint, {
            onNone: () =>
              Effect.succeed(json(404, { _tag: "NotFound", message: "metrics are disabled (METRICS_ENABLED=false)" })),
            onSome: (exposition) =>
              Effect.map(exposition.render, (body) =>
                HttpServerResponse.text(body, { headers: { "content-type": exposition.contentType } })
              )
          })
        ),
        // /livez, /readyz and /startupz are answered before the router (GatedServer below); /readyz comes
        // here only before the checks have run once.
        HttpRouter.get(
          "/readyz",
          Effect.map(lifecycle.readiness, (readiness) =>
            json(readiness.status === "unready" ? 503 : 200, { status: readiness.status, details: readiness.details })
          )
        ),
        // A known path with another method is 405 (a route per method and path would clash in the router).
        Effect.catchTag("RouteNotFound", (error) => {
          const path = pathOf(error.request.url)
          return Effect.succeed(
            GET_ONLY.some((known) => known === path)
              ? json(405, methodNotAllowed(error.request.method, path), { allow: "GET" })
              : json(404, noRoute(path))
          )
        }),
        // Every request routed here: its x-request-id (the caller's when sane, else a new one, echoed back), the
        // metrics with the status actually sent, and one log line like gRPC's (never the token or the body).
        (app) =>
          Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
            const started = performance.now()
            const key = String(++callSeq)
            const call: HttpCall = { requestId: requestIdOr(request.headers["x-request-id"]), subject: undefined }
            calls.set(key, call)
            const done = (status: number, cause: Cause.Cause<unknown> | undefined) => {
              calls.delete(key)
              const route = routeOf(request.url)
              const seconds = (performance.now() - started) / 1000
              metrics.httpCompleted(request.method, route, status, seconds)
              const fields = {
                method: request.method,
                route,
                status,
                duration_ms: Math.round(seconds * 100_000) / 100,
                request_id: call.requestId,
                peer: Option.getOrElse(request.remoteAddress, () => "unknown"),
                ...(call.subject === undefined ? {} : { subject: call.subject })
              }
              return cause === undefined
                ? Effect.logInfo("HTTP request completed").pipe(Effect.annotateLogs(fields))
                : // A real defect (every caller fault is a 4xx): logged with its cause, answered 500 without it.
                  Effect.logError("HTTP request failed", cause).pipe(Effect.annotateLogs(fields))
            }
            return Effect.provideService(
              app,
              HttpServerRequest.HttpServerRequest,
              request.modify({ headers: { ...request.headers, [callHeader]: key } })
            ).pipe(
              Effect.map((response) => HttpServerResponse.setHeader(response, "x-request-id", call.requestId)),
              Effect.tap((response) => done(response.status, undefined)),
              // A client that went away was sent nothing: 499, as nginx counts it, not a 500.
              Effect.tapErrorCause((cause) =>
                Cause.isInterruptedOnly(cause) ? done(499, undefined) : done(500, cause)
              )
            )
          })
      )
    )
  )

/**
 * The HTTP server as a scoped Layer. Built first and closed last, so /livez answers until the very end. At
 * shutdown idle keep-alive connections are closed at once and the rest after `shutdownTimeout`, so a client
 * holding a connection open cannot hold the exit.
 */
/**
 * The Node server in front of the Effect router. Every request passes two doors there, in the event-loop turn it
 * arrives, before routing and authentication:
 * - the probes (/livez, /readyz, /startupz, /metrics) are answered by Node directly from a readiness snapshot: under
 *   overload the Effect HTTP stack waits behind every call in flight, and a kubelet whose probe times out restarts
 *   a pod that is only busy;
 * - every other request's body goes through the body gate (BodyGate.ts): JSON only, at most HTTP_MAX_BODY_BYTES,
 *   bounded nesting, read while counting so nothing beyond the limit is ever held.
 */
type Gate = (
  request: IncomingMessage,
  response: ServerResponse,
  expectsContinue: boolean,
  pass: (request: IncomingMessage) => void
) => void

/** Puts `gate` in front of a server's request handlers (a plain or an HTTPS server alike). */
const installGate = (server: Server): ((gate: Gate) => void) => {
  let gate: Gate | undefined
  // Node's servers do not override emit: this is what server.emit did.
  const emit = (event: string | symbol, ...args: Array<unknown>) =>
    EventEmitter.prototype.emit.call(server, event, ...args)
  server.emit = (event: string | symbol, ...args: Array<unknown>): boolean => {
    const [request, response] = args
    if (
      (event === "request" || event === "checkContinue") &&
      gate !== undefined &&
      request instanceof IncomingMessage &&
      response instanceof ServerResponse
    ) {
      try {
        gate(request, response, event === "checkContinue", (passed) => emit("request", passed, response))
      } catch {
        // A request the gate cannot read is the caller's fault, never the process's end.
        if (!response.headersSent) {
          response.writeHead(400, { connection: "close", "content-length": 0 })
          response.end()
        }
      }
      return true
    }
    return emit(event, ...args)
  }
  return (installed) => {
    gate = installed
  }
}

/**
 * TLS 1.2 and 1.3 with forward-secret AEAD suites only (ECDHE with AES-GCM or ChaCha20-Poly1305; TLS 1.3's suites
 * are all such). Set as Node's default in the composition root, so the gRPC port (grpc-js takes no cipher option)
 * gets the same; the HTTPS server is given it explicitly as well.
 */
export const TLS_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305"
].join(":")

const PROBES = new Set(["/livez", "/readyz", "/startupz", "/metrics"])

/** Answers a probe from what is known now (never waits for a check), or returns false for any other request. */
const answerProbe =
  (state: {
    readonly readiness: () => Readiness | undefined
    readonly pending: () => ReadonlyArray<string>
    readonly record: (method: string, route: string, status: number, seconds: number) => void
    /** Renders the exposition and calls back with it; undefined when metrics are off (the router answers 404). */
    readonly metrics: ((done: (body: string, contentType: string) => void) => void) | undefined
  }) =>
  (request: IncomingMessage, response: ServerResponse): boolean => {
    const url = request.url ?? ""
    const path = url.includes("?") ? url.slice(0, url.indexOf("?")) : url
    if (!PROBES.has(path) || (request.method !== "GET" && request.method !== "HEAD")) return false
    const started = performance.now()
    if (path === "/metrics") {
      if (state.metrics === undefined) return false
      state.metrics((text, contentType) => {
        response.writeHead(200, { "content-type": contentType, "content-length": Buffer.byteLength(text) })
        response.end(request.method === "HEAD" ? undefined : text)
        state.record(request.method ?? "GET", path, 200, (performance.now() - started) / 1000)
      })
      request.resume()
      return true
    }
    let status = 200
    let body: unknown = { status: "ok" }
    if (path === "/readyz") {
      const readiness = state.readiness()
      // Not evaluated yet (the first probe while running): the router runs the checks.
      if (readiness === undefined) return false
      status = readiness.status === "unready" ? 503 : 200
      body = { status: readiness.status, details: readiness.details }
    } else if (path === "/startupz") {
      const pending = state.pending()
      status = pending.length === 0 ? 200 : 503
      body = pending.length === 0 ? { status: "started" } : { status: "starting", pending }
    }
    const text = JSON.stringify(body)
    response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) })
    response.end(request.method === "HEAD" ? undefined : text)
    // Drain a body a client may have sent with it, so the connection stays usable.
    request.resume()
    state.record(request.method ?? "GET", path, status, (performance.now() - started) / 1000)
    return true
  }

/** The certificate files, read when the server is built (a missing file fails the start, naming it). */
const readTls = (tls: HttpServerOptions["tls"]) =>
  Effect.try({
    try: () =>
      tls === undefined
        ? undefined
        : {
            cert: readFileSync(tls.certFile),
            key: readFileSync(tls.keyFile),
            clientCa: tls.caFile === undefined ? undefined : readFileSync(tls.caFile)
          },
    catch: (cause) => new HttpServerError.ServeError({ cause })
  })

export const HttpServerLive = (options: HttpServerOptions) =>
  Layer.unwrapEffect(Effect.map(readTls(options.tls), (tls) => serve(options, tls)))

const serve = (
  options: HttpServerOptions,
  tls: { readonly cert: Buffer; readonly key: Buffer; readonly clientCa: Buffer | undefined } | undefined
) => {
  const server =
    tls === undefined
      ? createHttpServer()
      : createHttpsServer({
          cert: tls.cert,
          key: tls.key,
          minVersion: "TLSv1.2",
          ciphers: TLS_CIPHERS,
          honorCipherOrder: true,
          // mTLS: a client certificate signed by this CA only (never Node's public bundle), or no handshake.
          ...(tls.clientCa === undefined ? {} : { ca: [tls.clientCa], requestCert: true, rejectUnauthorized: true })
        })
  const setGate = installGate(server)
  const listen = NodeHttpServer.layer(() => server, {
    port: options.port,
    ...(options.host === "" ? {} : { host: options.host })
  })
  const bounded = Layer.scopedDiscard(
    Effect.gen(function* () {
      const lifecycle = yield* Lifecycle
      const metrics = yield* RequestMetrics
      const runtime = yield* Effect.runtime<never>()
      const pendingNow = Runtime.runSync(runtime)
      const probe = answerProbe({
        readiness: lifecycle.readinessNow,
        pending: () => pendingNow(lifecycle.pendingSteps),
        record: (method, route, status, seconds) => metrics.httpCompleted(method, route, status, seconds),
        metrics: Option.match(yield* Effect.serviceOption(MetricsEndpoint), {
          onNone: () => undefined,
          onSome: (exposition) => {
            const runCallback = Runtime.runCallback(runtime)
            return (done: (body: string, contentType: string) => void) =>
              runCallback(exposition.render, {
                onExit: (exit) => done(exit._tag === "Success" ? exit.value : "", exposition.contentType)
              })
          }
        })
      })
      const gateOptions: BodyGateOptions = {
        maxBodyBytes: options.maxBodyBytes,
        maxJsonDepth: MAX_JSON_DEPTH,
        bodyTimeoutMs: BODY_TIMEOUT_MS,
        alsoAccepted: (path) => (path === "/rpc" ? RPC_MEDIA_TYPES : []),
        maxMessages: (path) => (path === "/rpc" ? MAX_RPC_MESSAGES : undefined),
        budget: { maxBufferedBytes: BUFFERED_BODIES * options.maxBodyBytes, used: 0 }
      }
      const log = Runtime.runSync(runtime)
      const logRefusal = (
        method: string,
        route: string,
        status: number,
        seconds: number,
        reason: string,
        peer: string
      ) => {
        metrics.httpCompleted(method, route, status, seconds)
        log(
          Effect.logInfo("HTTP request refused").pipe(
            Effect.annotateLogs({
              method,
              route,
              status,
              duration_ms: Math.round(seconds * 100_000) / 100,
              reason,
              peer
            })
          )
        )
      }
      setGate((request, response, expectsContinue, pass) => {
        // After a refusal the connection only drains: a request pipelined behind the refused one is never served.
        if (isClosing(request.socket)) return void request.resume()
        const started = performance.now()
        const url = request.url ?? ""
        const path = pathOf(url)
        const recordRefusal = (refused: Refusal) =>
          logRefusal(
            request.method ?? "",
            routeOf(url),
            refused.status,
            (performance.now() - started) / 1000,
            refused.tag,
            request.socket.remoteAddress ?? "unknown"
          )
        const checked = checkHeaders(gateOptions, path, request.headers)
        const refusal = checked !== "no-body" && PROBES.has(path) ? noBodyAllowed : checked
        if (typeof refusal === "object") {
          refuse(request, response, refusal)
          return recordRefusal(refusal)
        }
        if (refusal === "no-body" && probe(request, response)) return
        if (expectsContinue) response.writeContinue()
        if (refusal === "no-body") return pass(request)
        readBody(gateOptions, request, response, recordRefusal, pass)
      })
      // Requests Node's parser refuses (malformed, headers too large, too slow) are counted and logged like the rest.
      server.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) => {
        const inProgress = Reflect.get(socket, "_httpMessage")
        if (
          error.code === "ECONNRESET" ||
          !socket.writable ||
          (socket instanceof Socket && isClosing(socket)) ||
          (inProgress instanceof ServerResponse && inProgress.headersSent)
        )
          return void socket.destroy()
        const status =
          error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : error.code === "HPE_HEADER_OVERFLOW" ? 431 : 400
        socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`)
        logRefusal(
          "unknown",
          "unmatched",
          status,
          0,
          error.code ?? "ClientError",
          socket instanceof Socket ? (socket.remoteAddress ?? "unknown") : "unknown"
        )
      })
      // Slow clients are cut: headers within 10 s, the whole request within 30 s (Node's defaults: 60 s and 300 s).
      server.headersTimeout = 10_000
      server.requestTimeout = 30_000
      // With a listener, Node hands requests that expect 100-continue to the gate before sending the 100.
      server.on("checkContinue", () => undefined)
      const address = yield* HttpServer.addressFormattedWith((formatted) => Effect.succeed(formatted))
      yield* Effect.logInfo("HTTP server listening").pipe(Effect.annotateLogs({ address }))
      yield* lifecycle.started("http")
      // HEALTH_SERVER_URL: the probes on a plain port of their own as well (nothing else is served there).
      if (options.health !== undefined) {
        const health = createHttpServer((request, response) => {
          if (!probe(request, response)) {
            response.writeHead(404, { "content-type": "application/json", connection: "close" })
            response.end(JSON.stringify({ _tag: "NotFound", message: "this port serves only the probes" }))
          }
        })
        health.headersTimeout = 10_000
        health.requestTimeout = 30_000
        const { host, port } = options.health
        const listening = yield* Effect.acquireRelease(
          Effect.async<string, HttpServerError.ServeError>((resume) => {
            health.once("error", (cause) => resume(Effect.fail(new HttpServerError.ServeError({ cause }))))
            health.listen({ port, ...(host === "" ? {} : { host }) }, () => {
              const address = health.address()
              resume(
                Effect.succeed(
                  typeof address === "object" && address !== null
                    ? `${address.address}:${address.port}`
                    : String(address)
                )
              )
            })
          }),
          () =>
            Effect.async<void>((resume) => {
              health.closeAllConnections()
              health.close(() => resume(Effect.void))
            })
        )
        yield* Effect.logInfo("Health server listening").pipe(Effect.annotateLogs({ address: listening }))
      }
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          server.closeIdleConnections()
          setTimeout(() => server.closeAllConnections(), Duration.toMillis(options.shutdownTimeout)).unref()
        })
      )
    })
  )
  return bounded.pipe(
    Layer.provideMerge(Layer.unwrapScoped(Effect.map(router(options), (routes) => HttpServer.serve(routes)))),
    Layer.provideMerge(listen)
  )
}

export const config = Config.all({
  address: listenAddress("HTTP_SERVER_URL").pipe(Config.withDefault({ host: "", port: 4000 })),
  shutdownTimeout: duration("HTTP_SHUTDOWN_TIMEOUT").pipe(Config.withDefault(Duration.seconds(5))),
  maxBodyBytes: intInRange("HTTP_MAX_BODY_BYTES", 1024, 64 * 1024 * 1024).pipe(Config.withDefault(1024 * 1024)),
  tls: tlsFiles({ cert: "HTTP_TLS_CERT_FILE", key: "HTTP_TLS_KEY_FILE", ca: "HTTP_TLS_CLIENT_CA_FILE" }, true),
  // A plain port that answers only the probes, for a kubelet that should not need the HTTP port's certificates.
  healthAddress: listenAddress("HEALTH_SERVER_URL").pipe(Config.option)
})

/** TLS for the HTTP port: its own files, else the gRPC port's (one certificate for the service), else none. */
const httpTls = (own: TlsFiles, grpc: TlsFiles): HttpServerOptions["tls"] => {
  const files = Option.isSome(own.certFile) ? own : grpc
  if (Option.isNone(files.certFile) || Option.isNone(files.keyFile)) return undefined
  return { certFile: files.certFile.value, keyFile: files.keyFile.value, caFile: Option.getOrUndefined(files.caFile) }
}

/** The server on its own settings, under the edge policy every door shares. */
export const layerConfig = (edge: EdgeOptions) =>
  Layer.unwrapEffect(
    Effect.map(Config.all([config, grpcTlsConfig]), ([settings, grpcTls]) =>
      HttpServerLive({
        host: settings.address.host,
        port: settings.address.port,
        shutdownTimeout: settings.shutdownTimeout,
        maxBodyBytes: settings.maxBodyBytes,
        tls: httpTls(settings.tls, grpcTls),
        health: Option.getOrUndefined(settings.healthAddress),
        edge
      })
    )
  )
