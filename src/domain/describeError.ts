/** How long a description may be, by default: enough for a chain of causes, short enough for a log line or a probe. */
export const DESCRIBE_ERROR_MAX_LENGTH = 300

/** Messages that name no cause (Effect's wrappers when a promise rejects or a function throws). */
const UNINFORMATIVE = new Set([
  "",
  "An unknown error occurred",
  "An unknown error occurred in Effect.tryPromise",
  "An unknown error occurred in Effect.try",
  "An error has occurred"
])

const MAX_DEPTH = 8

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null

const stringField = (value: Record<string, unknown>, key: string): string | undefined => {
  const field = value[key]
  return typeof field === "string" ? field : undefined
}

/** The text an error says about itself: its message, else its code (node's AggregateError has an empty message). */
const ownText = (value: unknown): string | undefined => {
  if (typeof value === "string") return value
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value)
  if (!isRecord(value)) return undefined
  const message = stringField(value, "message")?.trim()
  if (message !== undefined && !UNINFORMATIVE.has(message)) return message
  const code = stringField(value, "code")
  if (code !== undefined && code !== "") return code
  if (message !== undefined || value instanceof Error) return undefined
  try {
    const json = JSON.stringify(value)
    return json === "{}" ? undefined : json
  } catch {
    return undefined
  }
}

/** Each part of the chain, outermost first: the error, then its cause (or each of its errors), and so on. */
const collect = (value: unknown, depth: number, seen: Set<unknown>): ReadonlyArray<string> => {
  if (depth > MAX_DEPTH || value === undefined || value === null || seen.has(value)) return []
  if (isRecord(value)) seen.add(value)
  const own = ownText(value)
  if (!isRecord(value)) return own === undefined ? [] : [own]
  // AggregateError (node's connect to a name with IPv4 and IPv6 addresses): every attempt's error, once each. Its
  // own message is empty, and its code only repeats theirs.
  const errors = Array.isArray(value.errors) ? value.errors : []
  const each = [...new Set(errors.map((error) => collect(error, depth + 1, seen).join(": ")))].filter((s) => s !== "")
  const message = stringField(value, "message")?.trim() ?? ""
  const parts =
    each.length > 0
      ? [...(UNINFORMATIVE.has(message) ? [] : [message]), each.join("; ")]
      : own === undefined
        ? []
        : [own]
  return [...parts, ...collect(value.cause, depth + 1, seen)]
}

/** When nothing in the chain says anything: at least what kind of error it was. */
const nameOf = (error: unknown): string => {
  if (!isRecord(error)) return `${String(error)} (no message)`
  const name = stringField(error, "_tag") ?? stringField(error, "name") ?? "error"
  return `${name} (no message)`
}

/** `user:password@` in URLs, and `password=...` in key/value connection strings. */
const redactCredentials = (text: string): string =>
  text
    .replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/?#]*@/gi, "$1")
    .replace(/\b(password|passwd|pwd)(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s&;,)]+)/gi, "$1$2***")

/**
 * What went wrong with a dependency, in one line that names the real cause: walks the chain of `cause`s (Effect's
 * UnknownException, SqlError, DependencyUnavailable, ...) and the `errors` of an AggregateError, skips messages that
 * say nothing ("An unknown error occurred in Effect.tryPromise"), and joins the rest outermost first, e.g.
 * `PgClient: Failed to connect: connect ECONNREFUSED 127.0.0.1:5432`. Credentials in URLs (`user:password@`) and
 * `password=` settings are removed, and the text is cut to `maxLength` characters. Pure: for health details and logs.
 */
export const describeError = (error: unknown, maxLength: number = DESCRIBE_ERROR_MAX_LENGTH): string => {
  const parts: Array<string> = []
  for (const part of collect(error, 0, new Set())) {
    // A wrapper often repeats its cause's message ("...: connect ECONNREFUSED" then "connect ECONNREFUSED").
    if (parts.some((earlier) => earlier.includes(part))) continue
    parts.push(part)
  }
  const text = redactCredentials((parts.length === 0 ? nameOf(error) : parts.join(": ")).replace(/\s+/g, " "))
  const bound = Math.max(1, Math.floor(maxLength))
  return text.length <= bound ? text : `${text.slice(0, bound - 1)}…`
}
