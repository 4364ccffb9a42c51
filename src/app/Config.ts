import { Config, ConfigError, ConfigProvider, Duration, Either, Option, Redacted } from "effect"
import { readSettings } from "./Settings.js"

// Every environment variable the service reads is declared here (documented in docs/configuration.md).
// Names and defaults follow the Go boilerplate where they apply, so a deployment can switch without renaming.

const GO_DURATION = /^(\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** Go's time.ParseDuration syntax ("500ms", "1m30s", "1h"); "0" means zero. */
export const parseGoDuration = (text: string): Option.Option<Duration.Duration> => {
  if (text === "0") return Option.some(Duration.zero)
  if (!GO_DURATION.test(text)) return Option.none()
  let ms = 0
  for (const [, value, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) {
    ms += Number(value) * (UNIT_MS[unit ?? "ms"] ?? 1)
  }
  return Option.some(Duration.millis(ms))
}

/**
 * A variable parsed from its text; an unparsable value fails with the variable's name (Config adds it to the
 * path) and, unless secret, the start of the value. A default is applied after this, so it never hides a typo.
 */
const parsed = <A>(name: string, parse: (text: string) => Option.Option<A>, expected: string, secret = false) =>
  Config.string(name).pipe(
    Config.mapOrFail((value) =>
      Option.match(parse(value), {
        onNone: () =>
          Either.left(
            ConfigError.InvalidData([], `Expected ${expected}${secret ? "" : `, got "${value.slice(0, 64)}"`}`)
          ),
        onSome: Either.right
      })
    )
  )

const duration = (name: string) => parsed(name, parseGoDuration, "a duration such as 500ms, 5s or 1m30s")

const intInRange = (name: string, min: number, max: number) =>
  parsed(
    name,
    (text) =>
      /^-?\d+$/.test(text) && Number(text) >= min && Number(text) <= max ? Option.some(Number(text)) : Option.none(),
    `an integer from ${min} to ${max}`
  )

export interface ListenAddress {
  /** Empty for "all interfaces", as in Go's ":5000". */
  readonly host: string
  readonly port: number
}

/** Go's host:port listen address: ":5000", "127.0.0.1:5000", "[::1]:5000"; port 0 picks a free port. */
export const parseListenAddress = (text: string): Option.Option<ListenAddress> => {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s]*):(\d{1,5})$/.exec(text)
  if (!match) return Option.none()
  const port = Number(match[2])
  return port > 65535 ? Option.none() : Option.some({ host: (match[1] ?? "").replace(/^\[|\]$/g, ""), port })
}

const listenAddress = (name: string) =>
  parsed(name, parseListenAddress, 'host:port such as ":5000" or "127.0.0.1:5000"')

/** Go's host:port dial address ("localhost:6379", "[::1]:6379"): a host is required. */
const dialAddress = (name: string) =>
  parsed(
    name,
    (text) => Option.filter(parseListenAddress(text), (address) => address.host !== "" && address.port > 0),
    'host:port such as "localhost:6379"'
  )

const ratio = (name: string) =>
  parsed(
    name,
    (text) => (/^(0|1|0?\.\d+)$/.test(text) ? Option.some(Number(text)) : Option.none()),
    "a number from 0 to 1"
  )

const postgresUrl = (name: string) =>
  parsed(
    name,
    (text) => (/^postgres(ql)?:\/\/\S+$/.test(text) ? Option.some(Redacted.make(text)) : Option.none()),
    "a postgres:// or postgresql:// URL (the value is secret and not shown)",
    true
  )

/** Certificate files: all optional, but a certificate needs its key, and a client CA needs a server certificate. */
const tlsFiles = (names: { readonly cert: string; readonly key: string; readonly ca: string }, caNeedsCert: boolean) =>
  Config.all({
    certFile: Config.string(names.cert).pipe(Config.option),
    keyFile: Config.string(names.key).pipe(Config.option),
    caFile: Config.string(names.ca).pipe(Config.option)
  }).pipe(
    Config.mapOrFail((files) => {
      if (Option.isSome(files.certFile) !== Option.isSome(files.keyFile)) {
        const missing = Option.isSome(files.certFile) ? names.key : names.cert
        return Either.left(ConfigError.InvalidData([missing], `${names.cert} and ${names.key} go together`))
      }
      if (caNeedsCert && Option.isSome(files.caFile) && Option.isNone(files.certFile)) {
        const message = `mTLS needs the server's own certificate: set ${names.cert} and ${names.key}`
        return Either.left(ConfigError.InvalidData([names.ca], message))
      }
      return Either.right(files)
    })
  )

export const LogLevelName = Config.literal("trace", "debug", "info", "warning", "error", "fatal", "none")

/** Read on its own first: failures to start are logged with the configured logger when it is valid. */
export const LogConfig = Config.all({
  level: LogLevelName("LOG_LEVEL").pipe(Config.withDefault("info" as const)),
  format: Config.literal("json", "pretty")("LOG_FORMAT").pipe(Config.withDefault("json" as const))
})

export const AppConfig = Config.all({
  log: LogConfig,
  grpc: Config.all({
    address: listenAddress("GRPC_SERVER_URL").pipe(Config.withDefault({ host: "", port: 5000 })),
    maxReceiveMessageBytes: intInRange("GRPC_MAX_RECEIVE_MESSAGE_BYTES", 1024, 64 * 1024 * 1024).pipe(
      Config.withDefault(1024 * 1024)
    ),
    maxSendMessageBytes: intInRange("GRPC_MAX_SEND_MESSAGE_BYTES", 1024, 64 * 1024 * 1024).pipe(
      Config.withDefault(4 * 1024 * 1024)
    ),
    maxConcurrentStreams: intInRange("GRPC_MAX_CONCURRENT_STREAMS", 1, 1_000_000).pipe(Config.option),
    reflection: Config.boolean("GRPC_REFLECTION").pipe(Config.withDefault(true)),
    shutdownTimeout: duration("GRPC_SHUTDOWN_TIMEOUT").pipe(Config.withDefault(Duration.seconds(10))),
    requestTimeout: duration("REQUEST_TIMEOUT").pipe(Config.withDefault(Duration.seconds(5))),
    maxInFlight: parsed(
      "MAX_IN_FLIGHT",
      (text): Option.Option<number | "auto"> =>
        text === "auto"
          ? Option.some("auto")
          : /^\d+$/.test(text) && Number(text) >= 1 && Number(text) <= 1_000_000
            ? Option.some(Number(text))
            : Option.none(),
      'an integer from 1 to 1000000, or "auto" (a limit that adapts to latency)'
    ).pipe(Config.withDefault<number | "auto">(256)),
    rateLimitRps: intInRange("RATE_LIMIT_RPS", 0, 1_000_000).pipe(Config.withDefault(0)),
    rateLimitBurst: intInRange("RATE_LIMIT_BURST", 1, 1_000_000).pipe(Config.withDefault(20)),
    tls: tlsFiles({ cert: "GRPC_TLS_CERT_FILE", key: "GRPC_TLS_KEY_FILE", ca: "GRPC_TLS_CLIENT_CA_FILE" }, true)
  }),
  http: Config.all({
    address: listenAddress("HTTP_SERVER_URL").pipe(Config.withDefault({ host: "", port: 4000 })),
    shutdownTimeout: duration("HTTP_SHUTDOWN_TIMEOUT").pipe(Config.withDefault(Duration.seconds(5))),
    maxBodyBytes: intInRange("HTTP_MAX_BODY_BYTES", 1024, 64 * 1024 * 1024).pipe(Config.withDefault(1024 * 1024)),
    // TLS on the HTTP port; unset, the gRPC port's files are used (one certificate for the service).
    tls: tlsFiles({ cert: "HTTP_TLS_CERT_FILE", key: "HTTP_TLS_KEY_FILE", ca: "HTTP_TLS_CLIENT_CA_FILE" }, true),
    // A plain port that answers only the probes, for a kubelet that should not need the HTTP port's certificates.
    healthAddress: listenAddress("HEALTH_SERVER_URL").pipe(Config.option)
  }),
  health: Config.all({
    checkTimeout: duration("HEALTH_CHECK_TIMEOUT").pipe(Config.withDefault(Duration.seconds(1))),
    cacheTtl: duration("HEALTH_CACHE_TTL").pipe(Config.withDefault(Duration.seconds(1))),
    critical: parsed(
      "HEALTH_CRITICAL",
      (text) => {
        const names = text.split(",").map((name) => name.trim())
        return names.every((name) => /^[a-z][a-z0-9_-]*$/.test(name)) ? Option.some(names) : Option.none()
      },
      "a comma-separated list of check names such as database,cache"
    ).pipe(Config.option)
  }),
  shutdownDelay: duration("SHUTDOWN_DELAY").pipe(Config.withDefault(Duration.zero)),
  auth: Config.all({
    secret: Config.redacted("AUTH_JWT_SECRET").pipe(Config.option),
    jwksFile: Config.string("AUTH_JWKS_FILE").pipe(Config.option),
    issuer: Config.string("AUTH_ISSUER").pipe(Config.option),
    audience: Config.string("AUTH_AUDIENCE").pipe(Config.option),
    clockSkew: duration("AUTH_CLOCK_SKEW").pipe(Config.withDefault(Duration.seconds(30))),
    maxTokenTtl: duration("AUTH_MAX_TOKEN_TTL").pipe(Config.withDefault(Duration.hours(1))),
    required: Config.boolean("AUTH_REQUIRED").pipe(Config.withDefault(false)),
    writeScope: Config.string("AUTH_WRITE_SCOPE").pipe(Config.withDefault("users:write"))
  }).pipe(
    Config.mapOrFail((auth) =>
      Option.isSome(auth.secret) && Option.isSome(auth.jwksFile)
        ? Either.left(ConfigError.InvalidData(["AUTH_JWKS_FILE"], "set AUTH_JWT_SECRET or AUTH_JWKS_FILE, not both"))
        : // HS256 with a short secret can be brute-forced offline from one token (RFC 7518 3.2: at least 256 bits).
          Option.isSome(auth.secret) && Buffer.byteLength(Redacted.value(auth.secret.value)) < 32
          ? Either.left(ConfigError.InvalidData(["AUTH_JWT_SECRET"], "must be at least 32 bytes (256 bits) long"))
          : // A deployment that must not run open (the production overlay) says so, and a missing secret stops it.
            auth.required && Option.isNone(auth.secret) && Option.isNone(auth.jwksFile)
            ? Either.left(
                ConfigError.InvalidData(
                  ["AUTH_JWT_SECRET"],
                  "AUTH_REQUIRED=true: set AUTH_JWT_SECRET (32 bytes or more) or AUTH_JWKS_FILE"
                )
              )
            : Either.right(auth)
    )
  ),
  upstream: Config.all({
    address: dialAddress("GREETER_UPSTREAM_URL").pipe(Config.option),
    timeout: duration("GREETER_UPSTREAM_TIMEOUT").pipe(Config.withDefault(Duration.seconds(5))),
    tls: tlsFiles(
      {
        cert: "GREETER_UPSTREAM_TLS_CERT_FILE",
        key: "GREETER_UPSTREAM_TLS_KEY_FILE",
        ca: "GREETER_UPSTREAM_TLS_CA_FILE"
      },
      false
    )
  }),
  tracing: Config.all({
    enabled: Config.boolean("TRACING_ENABLED").pipe(Config.option),
    collector: dialAddress("TRACING_COLLECTOR_URL").pipe(Config.option),
    serviceName: Config.string("TRACING_SERVICE_NAME").pipe(Config.withDefault("effect-microservice")),
    sampleRatio: ratio("TRACING_SAMPLE_RATIO").pipe(Config.withDefault(1)),
    shutdownTimeout: duration("TRACING_SHUTDOWN_TIMEOUT").pipe(Config.withDefault(Duration.seconds(5))),
    environment: Config.string("DEPLOYMENT_ENVIRONMENT").pipe(Config.withDefault("development"))
  }),
  metrics: Config.all({
    enabled: Config.boolean("METRICS_ENABLED").pipe(Config.withDefault(true)),
    defaultMetrics: Config.boolean("METRICS_ENABLE_DEFAULT_METRICS").pipe(Config.withDefault(false)),
    commit: Config.string("BUILD_COMMIT").pipe(Config.withDefault("unknown"))
  }),
  database: Config.all({
    connectFailFast: Config.boolean("DATABASE_CONNECT_FAIL_FAST").pipe(Config.withDefault(false)),
    dsn: postgresUrl("DATABASE_DSN").pipe(Config.option),
    driver: Config.literal("postgres")("DATABASE_DRIVER").pipe(Config.withDefault("postgres" as const)),
    migrate: Config.boolean("DATABASE_MIGRATE").pipe(Config.option),
    embeddedDir: Config.string("DATABASE_EMBEDDED_DIR").pipe(Config.option),
    poolMaxOpen: intInRange("DATABASE_POOL_MAX_OPEN", 1, 1000).pipe(Config.withDefault(10)),
    poolMaxLifetime: duration("DATABASE_POOL_MAX_LIFETIME").pipe(Config.withDefault(Duration.hours(1))),
    idleTimeout: duration("DATABASE_POOL_IDLE_TIMEOUT").pipe(Config.withDefault(Duration.seconds(30))),
    connectTimeout: duration("DATABASE_CONNECT_TIMEOUT").pipe(Config.withDefault(Duration.seconds(1))),
    statementTimeout: duration("DATABASE_STATEMENT_TIMEOUT").pipe(Config.withDefault(Duration.seconds(2))),
    poolMaxWaiting: intInRange("DATABASE_POOL_MAX_WAITING", 0, 100_000).pipe(Config.withDefault(50)),
    breakerThreshold: intInRange("DATABASE_BREAKER_THRESHOLD", 1, 1000).pipe(Config.withDefault(5)),
    breakerReset: duration("DATABASE_BREAKER_RESET").pipe(Config.withDefault(Duration.seconds(2))),
    readRetries: intInRange("DATABASE_READ_RETRIES", 0, 10).pipe(Config.withDefault(2)),
    idempotencyKeyTtl: duration("IDEMPOTENCY_KEY_TTL").pipe(Config.withDefault(Duration.hours(24)))
  }),
  cache: Config.all({
    maxEntries: intInRange("CACHE_MAX_ENTRIES", 1, 10_000_000).pipe(Config.withDefault(10_000)),
    ttl: duration("CACHE_TTL").pipe(Config.withDefault(Duration.seconds(60))),
    negativeTtl: duration("CACHE_NEGATIVE_TTL").pipe(Config.withDefault(Duration.zero))
  }),
  redis: Config.all({
    address: dialAddress("REDIS_ADDR").pipe(Config.option),
    password: Config.redacted("REDIS_PASSWORD").pipe(Config.option),
    db: intInRange("REDIS_DB", 0, 1_000_000).pipe(Config.withDefault(0)),
    dialTimeout: duration("REDIS_DIAL_TIMEOUT").pipe(Config.withDefault(Duration.seconds(5))),
    readTimeout: duration("REDIS_READ_TIMEOUT").pipe(Config.withDefault(Duration.seconds(3))),
    commandTimeout: duration("REDIS_COMMAND_TIMEOUT").pipe(Config.withDefault(Duration.millis(50))),
    ttl: duration("REDIS_CACHE_TTL").pipe(Config.withDefault(Duration.seconds(60))),
    ttlJitter: ratio("REDIS_CACHE_TTL_JITTER").pipe(Config.withDefault(0.1)),
    negativeTtl: duration("REDIS_NEGATIVE_TTL").pipe(Config.withDefault(Duration.zero)),
    keyPrefix: Config.string("REDIS_KEY_PREFIX").pipe(Config.withDefault("")),
    breakerThreshold: intInRange("REDIS_BREAKER_THRESHOLD", 1, 1000).pipe(Config.withDefault(5)),
    breakerResetAfter: duration("REDIS_BREAKER_RESET").pipe(Config.withDefault(Duration.seconds(2)))
  }),
  /**
   * Go variables with no equivalent here: validated so a Go deployment's values still start the service, and
   * named in a warning at start when set, since they change nothing.
   */
  compatibilityOnly: Config.all({
    DATABASE_POOL_MAX_IDLE: intInRange("DATABASE_POOL_MAX_IDLE", 0, 1000).pipe(Config.option),
    REDIS_WRITE_TIMEOUT: duration("REDIS_WRITE_TIMEOUT").pipe(Config.option),
    REDIS_POOL_SIZE: intInRange("REDIS_POOL_SIZE", 0, 100_000).pipe(Config.option),
    REDIS_MIN_IDLE_CONNECTIONS: intInRange("REDIS_MIN_IDLE_CONNECTIONS", 0, 100_000).pipe(Config.option)
  })
})
export type AppConfig = Config.Config.Success<typeof AppConfig>

/** The configuration from the process environment over a `.env` file (see readSettings). */
export const envConfigProvider = (
  env: NodeJS.ProcessEnv = process.env,
  dotEnvPath: string | undefined = ".env"
): ConfigProvider.ConfigProvider => ConfigProvider.fromMap(readSettings(env, dotEnvPath))

/** Every invalid or missing variable in a ConfigError, as "NAME: reason" lines. */
export const describeConfigError = (error: ConfigError.ConfigError): ReadonlyArray<string> =>
  ConfigError.reduceWithContext(error, undefined, {
    andCase: (_, left: ReadonlyArray<string>, right: ReadonlyArray<string>) => [...left, ...right],
    orCase: (_, left: ReadonlyArray<string>, right: ReadonlyArray<string>) => [...left, ...right],
    invalidDataCase: (_, path, message) => [`${path.join("_")}: ${message}`],
    missingDataCase: (_, path, message) => [`${path.join("_")}: ${message}`],
    sourceUnavailableCase: (_, path, message) => [`${path.join("_")}: ${message}`],
    unsupportedCase: (_, path, message) => [`${path.join("_")}: ${message}`]
  })
