import { Effect, Option, Redacted, type Scope } from "effect"

export interface EmbeddedPostgresOptions {
  /** Keeps the data across restarts; in memory when absent. */
  readonly dataDir: Option.Option<string>
  /** Connections the socket accepts. The pool must not be larger: extra connections are refused, not queued. */
  readonly maxConnections: number
}

/**
 * Starts PGlite (Postgres compiled to WebAssembly, in this process) behind a Postgres wire-protocol socket on a
 * free loopback port, so the ordinary Postgres adapter runs on it unchanged. For development and tests only:
 * one backend serves every connection in turn.
 */
export const startEmbeddedPostgres = (
  options: EmbeddedPostgresOptions
): Effect.Effect<Redacted.Redacted<string>, never, Scope.Scope> =>
  Effect.gen(function* () {
    // Loaded on demand: a service configured with a real database never pays for the WebAssembly module.
    const [{ PGlite }, { PGLiteSocketServer }] = yield* Effect.promise(() =>
      Promise.all([import("@electric-sql/pglite"), import("@electric-sql/pglite-socket")])
    )
    const db = yield* Effect.acquireRelease(
      Effect.promise(() => PGlite.create(Option.getOrUndefined(options.dataDir))),
      (instance) => Effect.promise(() => instance.close())
    )
    const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: options.maxConnections })
    yield* Effect.acquireRelease(
      Effect.promise(() => server.start()),
      () => Effect.promise(() => server.stop())
    )
    return Redacted.make(`postgres://postgres:postgres@${server.getServerConn()}/postgres?sslmode=disable`)
  }).pipe(Effect.withSpan("EmbeddedPostgres.start"))
