import { Config, ConfigError, Duration, Either, Option, Redacted } from "effect"

// The parsers every adapter's settings use. Names and syntax follow the Go boilerplate where they apply, so a
// deployment of the Go service can switch without renaming.

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
export const parsed = <A>(name: string, parse: (text: string) => Option.Option<A>, expected: string, secret = false) =>
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

export const duration = (name: string) => parsed(name, parseGoDuration, "a duration such as 500ms, 5s or 1m30s")

export const intInRange = (name: string, min: number, max: number) =>
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

export const listenAddress = (name: string) =>
  parsed(name, parseListenAddress, 'host:port such as ":5000" or "127.0.0.1:5000"')

/** Go's host:port dial address ("localhost:6379", "[::1]:6379"): a host is required. */
export const dialAddress = (name: string) =>
  parsed(
    name,
    (text) => Option.filter(parseListenAddress(text), (address) => address.host !== "" && address.port > 0),
    'host:port such as "localhost:6379"'
  )

/** `host:port`, with an IPv6 host in brackets: how gRPC targets and the logs write an address. */
export const hostPort = (host: string, port: number): string => `${host.includes(":") ? `[${host}]` : host}:${port}`

export const ratio = (name: string) =>
  parsed(
    name,
    (text) => (/^(0|1|0?\.\d+)$/.test(text) ? Option.some(Number(text)) : Option.none()),
    "a number from 0 to 1"
  )

export const postgresUrl = (name: string) =>
  parsed(
    name,
    (text) => (/^postgres(ql)?:\/\/\S+$/.test(text) ? Option.some(Redacted.make(text)) : Option.none()),
    "a postgres:// or postgresql:// URL (the value is secret and not shown)",
    true
  )

export interface TlsFiles {
  readonly certFile: Option.Option<string>
  readonly keyFile: Option.Option<string>
  readonly caFile: Option.Option<string>
}

/** Certificate files: all optional, but a certificate needs its key, and a client CA needs a server certificate. */
export const tlsFiles = (
  names: { readonly cert: string; readonly key: string; readonly ca: string },
  caNeedsCert: boolean
): Config.Config<TlsFiles> =>
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
