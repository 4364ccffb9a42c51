import { readFileSync } from "node:fs"
import { Config, ConfigError, Duration, Either, Option, Redacted } from "effect"
import { duration, intInRange, parsed } from "../config/Settings.js"
import type { AuthOptions } from "../grpc/Auth.js"
import type { EdgeOptions } from "./Pipeline.js"

// The policy settings every door applies (gRPC, REST, /rpc): one declaration, read once by the composition root.

const maxInFlight = parsed(
  "MAX_IN_FLIGHT",
  (text): Option.Option<number | "auto"> =>
    text === "auto"
      ? Option.some("auto")
      : /^\d+$/.test(text) && Number(text) >= 1 && Number(text) <= 1_000_000
        ? Option.some(Number(text))
        : Option.none(),
  'an integer from 1 to 1000000, or "auto" (a limit that adapts to latency)'
).pipe(Config.withDefault<number | "auto">(256))

const authSettings = Config.all({
  secret: Config.redacted("AUTH_JWT_SECRET").pipe(Config.option),
  jwksFile: Config.string("AUTH_JWKS_FILE").pipe(Config.option),
  issuer: Config.string("AUTH_ISSUER").pipe(Config.option),
  audience: Config.string("AUTH_AUDIENCE").pipe(Config.option),
  clockSkew: duration("AUTH_CLOCK_SKEW").pipe(Config.withDefault(Duration.seconds(30))),
  maxTokenTtl: duration("AUTH_MAX_TOKEN_TTL").pipe(Config.withDefault(Duration.hours(1))),
  required: Config.boolean("AUTH_REQUIRED").pipe(Config.withDefault(false)),
  writeScope: Config.string("AUTH_WRITE_SCOPE").pipe(Config.withDefault("users:write"))
})
type AuthSettings = Config.Config.Success<typeof authSettings>

const invalid = (name: string, message: string) => Either.left(ConfigError.InvalidData([name], message))

type Jwks = Extract<AuthOptions["key"], { readonly _tag: "Jwks" }>["jwks"]

/** The JWKS file, read at start: a file that cannot be read or is not a key set stops the start, naming it. */
const readJwks = (path: string): Either.Either<Jwks, string> => {
  try {
    const jwks: unknown = JSON.parse(readFileSync(path, "utf8"))
    return typeof jwks === "object" && jwks !== null && "keys" in jwks && Array.isArray(jwks.keys)
      ? Either.right({ keys: jwks.keys })
      : Either.left(`${path} is not a JWKS ({"keys": [...]})`)
  } catch (cause) {
    return Either.left(`cannot read ${path}: ${cause instanceof Error ? cause.message : String(cause)}`)
  }
}

/** JWT authentication when AUTH_JWT_SECRET or AUTH_JWKS_FILE is set; refusals name the variable to fix. */
const authOptions = (auth: AuthSettings): Either.Either<Option.Option<AuthOptions>, ConfigError.ConfigError> => {
  if (Option.isSome(auth.secret) && Option.isSome(auth.jwksFile))
    return invalid("AUTH_JWKS_FILE", "set AUTH_JWT_SECRET or AUTH_JWKS_FILE, not both")
  // HS256 with a short secret can be brute-forced offline from one token (RFC 7518 3.2: at least 256 bits).
  if (Option.isSome(auth.secret) && Buffer.byteLength(Redacted.value(auth.secret.value)) < 32)
    return invalid("AUTH_JWT_SECRET", "must be at least 32 bytes (256 bits) long")
  // A deployment that must not run open (the production overlay) says so, and a missing secret stops it.
  if (auth.required && Option.isNone(auth.secret) && Option.isNone(auth.jwksFile))
    return invalid("AUTH_JWT_SECRET", "AUTH_REQUIRED=true: set AUTH_JWT_SECRET (32 bytes or more) or AUTH_JWKS_FILE")
  const common = {
    issuer: auth.issuer,
    audience: auth.audience,
    clockToleranceSeconds: Duration.toSeconds(auth.clockSkew),
    maxTokenTtlSeconds: Duration.toSeconds(auth.maxTokenTtl)
  }
  if (Option.isSome(auth.secret))
    return Either.right(Option.some({ ...common, key: { _tag: "Secret", secret: auth.secret.value } }))
  if (Option.isNone(auth.jwksFile)) return Either.right(Option.none())
  return Either.match(readJwks(auth.jwksFile.value), {
    onLeft: (message) => invalid("AUTH_JWKS_FILE", message),
    onRight: (jwks) => Either.right(Option.some({ ...common, key: { _tag: "Jwks", jwks } }))
  })
}

/** REQUEST_TIMEOUT, admission (MAX_IN_FLIGHT, RATE_LIMIT_*) and authentication (AUTH_*), as the edge pipeline takes them. */
export const EdgeConfig: Config.Config<EdgeOptions> = Config.all({
  requestTimeout: duration("REQUEST_TIMEOUT").pipe(Config.withDefault(Duration.seconds(5))),
  admission: Config.all({
    maxInFlight,
    ratePerSecond: intInRange("RATE_LIMIT_RPS", 0, 1_000_000).pipe(Config.withDefault(0)),
    burst: intInRange("RATE_LIMIT_BURST", 1, 1_000_000).pipe(Config.withDefault(20))
  }),
  auth: authSettings
}).pipe(
  Config.mapOrFail(({ requestTimeout, admission, auth }) =>
    Either.map(authOptions(auth), (options) => ({
      requestTimeout,
      admission,
      auth: options,
      writeScope: auth.writeScope
    }))
  )
)
