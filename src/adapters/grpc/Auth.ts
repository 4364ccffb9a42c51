import { Effect, Option, Redacted } from "effect"
import { createLocalJWKSet, errors, type JSONWebKeySet, jwtVerify } from "jose"
import { PermissionDenied, Unauthenticated } from "../../domain/errors.js"
import { RequestCaller } from "../../ports/RequestContext.js"

export interface AuthOptions {
  /** HS256 shared secret (AUTH_JWT_SECRET), or keys from a JWKS file (AUTH_JWKS_FILE): one of the two. */
  readonly key:
    | { readonly _tag: "Secret"; readonly secret: Redacted.Redacted<string> }
    | { readonly _tag: "Jwks"; readonly jwks: JSONWebKeySet }
  readonly issuer: Option.Option<string>
  readonly audience: Option.Option<string>
  readonly clockToleranceSeconds: number
  /** The longest lifetime a token may have: `exp` minus `iat` (or now, without `iat`), AUTH_MAX_TOKEN_TTL. */
  readonly maxTokenTtlSeconds: number
}

export interface Principal {
  /** The token's subject. */
  readonly subject: string
  readonly scopes: ReadonlySet<string>
}

// A bearer token larger than this is refused before parsing (metadata is otherwise only bounded by HTTP/2).
const MAX_AUTHORIZATION_BYTES = 8192

const reasonOf = (error: unknown): string =>
  error instanceof errors.JWTExpired
    ? "token expired"
    : error instanceof errors.JWSSignatureVerificationFailed
      ? "token signature does not verify"
      : error instanceof errors.JWTClaimValidationFailed
        ? `token claim ${error.claim} is not accepted`
        : error instanceof errors.JOSEAlgNotAllowed
          ? "token algorithm not allowed"
          : "token is malformed"

/**
 * JWT bearer authentication (jose). Verifies signature, expiry (with clock tolerance), issuer and audience; the
 * token itself is never logged or echoed. Scopes come from `scope` (space-separated) or `scp` (array).
 */
export const makeAuthenticator = (options: AuthOptions) => {
  const verifyOptions = {
    clockTolerance: options.clockToleranceSeconds,
    // A token without an expiry would be valid forever: refused.
    requiredClaims: ["exp"],
    ...(Option.isSome(options.issuer) ? { issuer: options.issuer.value } : {}),
    ...(Option.isSome(options.audience) ? { audience: options.audience.value } : {})
  }
  const verify =
    options.key._tag === "Secret"
      ? (() => {
          const secret = new TextEncoder().encode(Redacted.value(options.key.secret))
          return (token: string) => jwtVerify(token, secret, { ...verifyOptions, algorithms: ["HS256"] })
        })()
      : (() => {
          const keys = createLocalJWKSet(options.key.jwks)
          return (token: string) =>
            jwtVerify(token, keys, { ...verifyOptions, algorithms: ["RS256", "PS256", "ES256", "ES384", "EdDSA"] })
        })()

  return (authorization: string | undefined, requiredScope: string | undefined) =>
    Effect.gen(function* () {
      if (authorization === undefined || authorization === "") {
        return yield* new Unauthenticated({ reason: "missing bearer token (authorization metadata)" })
      }
      if (authorization.length > MAX_AUTHORIZATION_BYTES)
        return yield* new Unauthenticated({ reason: "token too large" })
      const match = /^Bearer ([A-Za-z0-9_\-.=]+)$/.exec(authorization)
      if (match?.[1] === undefined) return yield* new Unauthenticated({ reason: "authorization is not a bearer token" })
      const token = match[1]
      const { payload } = yield* Effect.tryPromise({
        try: () => verify(token),
        catch: (error) => new Unauthenticated({ reason: reasonOf(error) })
      })
      // jose checks `exp` and `nbf` (with the clock skew); a token issued in the future, or living longer than
      // AUTH_MAX_TOKEN_TTL, is refused too: a stolen long-lived token is the one to worry about.
      const now = Date.now() / 1000
      const skew = options.clockToleranceSeconds
      if (typeof payload.iat === "number" && payload.iat > now + skew)
        return yield* new Unauthenticated({ reason: "token claim iat is in the future" })
      const issued = typeof payload.iat === "number" ? payload.iat : now
      if ((payload.exp ?? now) - issued > options.maxTokenTtlSeconds + skew)
        return yield* new Unauthenticated({ reason: "token lifetime exceeds AUTH_MAX_TOKEN_TTL" })
      const scopes = new Set([
        ...(typeof payload.scope === "string" ? payload.scope.split(" ") : []),
        ...(Array.isArray(payload.scp) ? payload.scp.filter((s): s is string => typeof s === "string") : [])
      ])
      if (requiredScope !== undefined && !scopes.has(requiredScope)) {
        return yield* new PermissionDenied({ reason: `requires scope ${requiredScope}` })
      }
      return { subject: payload.sub ?? "", scopes } satisfies Principal
    }).pipe(Effect.withSpan("Auth.authenticate"))
}
export type Authenticator = ReturnType<typeof makeAuthenticator>

/**
 * Runs `effect` as the authenticated caller: the use cases read it from RequestCaller (ownership), the log lines
 * carry its subject. Every door calls this once its transport's credentials are verified.
 */
export const asCaller = <A, E, R>(principal: Principal, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.annotateLogs(Effect.locally(effect, RequestCaller, Option.some(principal)), { subject: principal.subject })
