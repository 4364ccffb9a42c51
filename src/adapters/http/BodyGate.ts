import { IncomingMessage, type ServerResponse } from "node:http"
import type { Socket } from "node:net"
import { bounded } from "../edge/DecodeFailure.js"

/**
 * The HTTP port's door for request bodies, in front of every route (REST, /rpc, anything added later) and before
 * authentication, so no caller, authenticated or not, can make the process hold more than `maxBodyBytes` of a body:
 * - a body that is not JSON is refused with 415 (a browser cannot send JSON cross-site without a CORS preflight,
 *   which this server never grants unless configured);
 * - a Content-Length over the limit is refused with 413 before a byte of the body is read;
 * - a body without a length (chunked) is read up to the limit and refused with 413 the moment it passes it;
 * - a body that nests deeper than `maxJsonDepth` is refused with 400 after one linear scan (no parser recursion);
 * - a body that has not arrived within `bodyTimeoutMs` is refused with 408 (a slow client holds nothing for long);
 * - all bodies being read at once share `maxBufferedBytes`: past it a body is refused with 503 (many slow clients
 *   cannot add up to more memory than that);
 * - where a route takes several messages in one body (/rpc), at most `maxMessages` lines.
 * A body within bounds reaches the routes as a request whose stream replays it from memory. After a refusal the
 * connection is closed: nothing more sent on it (pipelined requests included) reaches a route.
 */
export interface BodyGateOptions {
  readonly maxBodyBytes: number
  readonly maxJsonDepth: number
  readonly bodyTimeoutMs: number
  /** Media types accepted on a path besides application/json (the RPC door also speaks application/ndjson). */
  readonly alsoAccepted: (path: string) => ReadonlyArray<string>
  /** How many newline-separated messages one body may carry on a path (undefined: no such limit). */
  readonly maxMessages: (path: string) => number | undefined
  /** The bytes of all bodies being read at once, shared by every connection. */
  readonly budget: { readonly maxBufferedBytes: number; used: number }
}

export type Refusal = {
  readonly status: 400 | 408 | 413 | 415 | 503
  readonly tag: string
  readonly message: string
}

const refusal = (status: Refusal["status"], tag: string, message: string): Refusal => ({ status, tag, message })

/** The path of a request target, without query or fragment. Never throws (unlike `new URL` on `//[`). */
export const pathOf = (url: string) => {
  const end = url.search(/[?#]/)
  return end === -1 ? url : url.slice(0, end)
}

/** Connections closed after a refusal: whatever else arrives on them is discarded, never routed. */
const closing = new WeakSet<Socket>()
export const isClosing = (socket: Socket) => closing.has(socket)

/** The media type of a Content-Type header: lower case, without parameters. */
export const mediaTypeOf = (header: string | undefined) => (header ?? "").split(";", 1)[0]?.trim().toLowerCase() ?? ""

/** The deepest nesting of arrays and objects in a JSON text, stopping at `limit + 1` (brackets in strings skipped). */
export const jsonDepth = (body: Uint8Array, limit: number): number => {
  let depth = 0
  let deepest = 0
  let inString = false
  for (let i = 0; i < body.length; i++) {
    const byte = body[i]
    if (inString) {
      if (byte === 0x5c)
        i++ // a backslash escapes the next byte
      else if (byte === 0x22) inString = false
    } else if (byte === 0x22) inString = true
    else if (byte === 0x5b || byte === 0x7b) {
      depth++
      if (depth > deepest) {
        deepest = depth
        if (deepest > limit) return deepest
      }
    } else if (byte === 0x5d || byte === 0x7d) depth--
  }
  return deepest
}

/** What to do with a request's headers: refuse it now, pass it on (no body), or read its body. */
export const checkHeaders = (
  options: BodyGateOptions,
  path: string,
  headers: IncomingMessage["headers"]
): Refusal | "no-body" | "read" => {
  const length = headers["content-length"]
  if (headers["transfer-encoding"] === undefined && (length === undefined || Number(length) === 0)) return "no-body"
  const media = mediaTypeOf(headers["content-type"])
  if (media !== "application/json" && !options.alsoAccepted(path).includes(media))
    return refusal(
      415,
      "UnsupportedMediaType",
      `the request body must be application/json, not ${media === "" ? "untyped" : JSON.stringify(bounded(media))}`
    )
  if (length !== undefined && Number(length) > options.maxBodyBytes) return tooLarge(options)
  return "read"
}

/** For routes that take no body at all (the probes). */
export const noBodyAllowed = refusal(413, "PayloadTooLarge", "this route takes no request body")

const tooLarge = (options: BodyGateOptions) =>
  refusal(413, "PayloadTooLarge", `the request body is larger than ${options.maxBodyBytes} bytes (HTTP_MAX_BODY_BYTES)`)

/** Sends a refusal as the API's JSON problem, and closes the connection: an unread body is never read. */
export const refuse = (request: IncomingMessage, response: ServerResponse, refused: Refusal) => {
  const text = JSON.stringify({ _tag: refused.tag, message: refused.message })
  response.shouldKeepAlive = false
  response.writeHead(refused.status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    connection: "close",
    ...(refused.status === 503 ? { "retry-after": "1" } : {})
  })
  // A lingering close, as nginx does: after the answer Node would destroy the socket, and the client, still sending,
  // would get a reset (EPIPE) before it reads the answer. Half-close instead, discard what still comes for at most a
  // second, then cut.
  const socket = request.socket
  closing.add(socket)
  socket.destroySoon = () => void socket.end()
  response.end(text)
  const cut = setTimeout(() => socket.destroy(), 1000)
  cut.unref()
  socket.once("close", () => clearTimeout(cut))
  request.resume()
}

/**
 * Reads a body of at most `maxBodyBytes`, then calls `next` with a request that replays it, or refuses the request.
 * A client that goes away while sending leaves nothing behind.
 */
export const readBody = (
  options: BodyGateOptions,
  request: IncomingMessage,
  response: ServerResponse,
  onRefused: (refused: Refusal) => void,
  next: (replayed: IncomingMessage) => void
) => {
  const chunks: Array<Buffer> = []
  let size = 0
  const { budget } = options
  const stop = () => {
    clearTimeout(deadline)
    request.off("data", onData)
    request.off("end", onEnd)
    request.off("error", stop)
    request.off("aborted", stop)
    budget.used -= size
    size = 0
    chunks.length = 0
  }
  const refuseWith = (refused: Refusal) => {
    stop()
    refuse(request, response, refused)
    onRefused(refused)
  }
  const onData = (chunk: Buffer) => {
    if (size + chunk.length > options.maxBodyBytes) return refuseWith(tooLarge(options))
    if (budget.used + chunk.length > budget.maxBufferedBytes)
      return refuseWith(
        refusal(503, "ServiceUnavailable", "too many request bodies are being received at once; retry shortly")
      )
    size += chunk.length
    budget.used += chunk.length
    chunks.push(chunk)
  }
  const onEnd = () => {
    const body = Buffer.concat(chunks, size)
    stop()
    if (jsonDepth(body, options.maxJsonDepth) > options.maxJsonDepth)
      return refuseWith(
        refusal(400, "BadRequest", `the request body nests deeper than ${options.maxJsonDepth} arrays or objects`)
      )
    const maxMessages = options.maxMessages(pathOf(request.url ?? ""))
    if (maxMessages !== undefined && messageCount(body, maxMessages) > maxMessages)
      return refuseWith(refusal(413, "PayloadTooLarge", `a request body carries at most ${maxMessages} messages`))
    next(replay(request, body))
  }
  const deadline = setTimeout(
    () =>
      refuseWith(
        refusal(408, "RequestTimeout", `the request body did not arrive within ${options.bodyTimeoutMs / 1000} s`)
      ),
    options.bodyTimeoutMs
  )
  request.on("data", onData)
  request.on("end", onEnd)
  request.on("error", stop)
  request.on("aborted", stop)
}

/** The non-empty lines of a body, counting up to `limit + 1`. */
const messageCount = (body: Uint8Array, limit: number) => {
  let count = 0
  let inLine = false
  for (let i = 0; i < body.length && count <= limit; i++) {
    if (body[i] === 0x0a) inLine = false
    else if (!inLine && body[i] !== 0x0d && body[i] !== 0x20) {
      inLine = true
      count++
    }
  }
  return count
}

/** A request like `original` whose body stream is `body`, already in memory. */
const replay = (original: IncomingMessage, body: Buffer): IncomingMessage => {
  const copy = new IncomingMessage(original.socket)
  copy.method = original.method
  copy.url = original.url
  copy.headers = original.headers
  copy.rawHeaders = original.rawHeaders
  copy.trailers = original.trailers
  copy.rawTrailers = original.rawTrailers
  copy.httpVersion = original.httpVersion
  copy.httpVersionMajor = original.httpVersionMajor
  copy.httpVersionMinor = original.httpVersionMinor
  copy.complete = true
  if (body.length > 0) copy.push(body)
  copy.push(null)
  return copy
}
