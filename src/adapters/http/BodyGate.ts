import { IncomingMessage, type ServerResponse } from "node:http"

/**
 * The HTTP port's door for request bodies, in front of every route (REST, /rpc, anything added later) and before
 * authentication, so no caller, authenticated or not, can make the process hold more than `maxBodyBytes` of a body:
 * - a body that is not JSON is refused with 415 (a browser cannot send JSON cross-site without a CORS preflight,
 *   which this server never grants unless configured);
 * - a Content-Length over the limit is refused with 413 before a byte of the body is read;
 * - a body without a length (chunked) is read up to the limit and refused with 413 the moment it passes it;
 * - a body that nests deeper than `maxJsonDepth` is refused with 400 after one linear scan (no parser recursion).
 * A body within bounds reaches the routes as a request whose stream replays it from memory.
 */
export interface BodyGateOptions {
  readonly maxBodyBytes: number
  readonly maxJsonDepth: number
  /** Media types accepted on a path besides application/json (the RPC door also speaks application/ndjson). */
  readonly alsoAccepted: (path: string) => ReadonlyArray<string>
}

export type Refusal = { readonly status: 400 | 413 | 415; readonly tag: string; readonly message: string }

const refusal = (status: Refusal["status"], tag: string, message: string): Refusal => ({ status, tag, message })

/** At most 64 characters of what the caller sent, so an error never echoes a large input. */
export const quoteInput = (text: string) => JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text)

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
  if (headers["transfer-encoding"] === undefined && (length === undefined || length === "0")) return "no-body"
  const media = mediaTypeOf(headers["content-type"])
  if (media !== "application/json" && !options.alsoAccepted(path).includes(media))
    return refusal(
      415,
      "UnsupportedMediaType",
      `the request body must be application/json, not ${media === "" ? "untyped" : quoteInput(media)}`
    )
  if (length !== undefined && Number(length) > options.maxBodyBytes) return tooLarge(options)
  return "read"
}

const tooLarge = (options: BodyGateOptions) =>
  refusal(413, "PayloadTooLarge", `the request body is larger than ${options.maxBodyBytes} bytes (HTTP_MAX_BODY_BYTES)`)

/** Sends a refusal as the API's JSON problem, and closes the connection: an unread body is never read. */
export const refuse = (request: IncomingMessage, response: ServerResponse, refused: Refusal) => {
  const text = JSON.stringify({ _tag: refused.tag, message: refused.message })
  response.shouldKeepAlive = false
  response.writeHead(refused.status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    connection: "close"
  })
  // A lingering close, as nginx does: after the answer Node would destroy the socket, and the client, still sending,
  // would get a reset (EPIPE) before it reads the answer. Half-close instead, discard what still comes for at most a
  // second, then cut.
  const socket = request.socket
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
  const stop = () => {
    request.off("data", onData)
    request.off("end", onEnd)
    request.off("error", stop)
    request.off("aborted", stop)
    chunks.length = 0
  }
  const refuseWith = (refused: Refusal) => {
    stop()
    refuse(request, response, refused)
    onRefused(refused)
  }
  const onData = (chunk: Buffer) => {
    size += chunk.length
    if (size > options.maxBodyBytes) refuseWith(tooLarge(options))
    else chunks.push(chunk)
  }
  const onEnd = () => {
    const body = Buffer.concat(chunks, size)
    stop()
    if (jsonDepth(body, options.maxJsonDepth) > options.maxJsonDepth)
      return refuseWith(
        refusal(400, "BadRequest", `the request body nests deeper than ${options.maxJsonDepth} arrays or objects`)
      )
    next(replay(request, body))
  }
  request.on("data", onData)
  request.on("end", onEnd)
  request.on("error", stop)
  request.on("aborted", stop)
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
