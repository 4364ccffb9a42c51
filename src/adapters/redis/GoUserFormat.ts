import { Option, Schema } from "effect"
import { User } from "../../domain/User.js"

/**
 * The cache value of a user in the Go boilerplate's format, so Go and TypeScript replicas can share one Redis during
 * a rolling switch (docs/migrating-from-go.md): what Go's `json.Marshal(model.User)` writes, `{"ID":1,"Name":...,
 * "Email":...}`, with the id as a JSON number (Go's field is an unsigned integer). CreatedAt and UpdatedAt are left
 * out: this service does not carry them, and Go reads a missing time as its zero time, as it would for any value.
 */
export const encodeCachedUser = (user: User): string =>
  `{"ID":${user.id},"Name":${JSON.stringify(user.name)},"Email":${JSON.stringify(user.email)}}`

const Cached = Schema.Struct({ id: Schema.BigIntFromSelf, name: Schema.String, email: Schema.String }).pipe(
  Schema.compose(User)
)
const decodeCached = Schema.decodeUnknownOption(Cached)

/** The value of `key` in a parsed object, matched as Go's encoding/json matches: exact first, else ignoring case. */
const field = (value: Record<string, unknown>, key: string): unknown => {
  if (key in value) return value[key]
  const lower = key.toLowerCase()
  const found = Object.keys(value).find((candidate) => candidate.toLowerCase() === lower)
  return found === undefined ? undefined : value[found]
}

/**
 * An id as written: a JSON number (Go, and this service) or a decimal string (this service's earlier format). A
 * number beyond 2^53 is read from the text itself, where JSON.parse would have rounded it.
 */
const idOf = (text: string, raw: unknown): bigint | undefined => {
  if (typeof raw === "string") return /^\d{1,20}$/.test(raw) ? BigInt(raw) : undefined
  if (typeof raw !== "number" || !Number.isInteger(raw)) return undefined
  if (Number.isSafeInteger(raw)) return BigInt(raw)
  const digits = /"id"\s*:\s*(\d{1,20})\s*[,}]/i.exec(text)?.[1]
  return digits === undefined ? undefined : BigInt(digits)
}

/** A cached user in either format; none for anything else (the caller deletes it as corrupt). */
export const decodeCachedUser = (text: string): Option.Option<User> => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return Option.none()
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return Option.none()
  const record: Record<string, unknown> = { ...value }
  const id = idOf(text, field(record, "id"))
  if (id === undefined) return Option.none()
  return decodeCached({ id, name: field(record, "name"), email: field(record, "email") })
}
