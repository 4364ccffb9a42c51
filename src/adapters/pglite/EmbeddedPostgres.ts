import { Effect, Option, Redacted, type Scope } from "effect"
import { launchEmbeddedPostgres, takePrestarted } from "./EmbeddedPostgresWorker.js"

export interface EmbeddedPostgresOptions {
  /** Keeps the data across restarts; in memory when absent. */
  readonly dataDir: Option.Option<string>
  /** Connections the socket accepts. The pool must not be larger: extra connections are refused, not queued. */
  readonly maxConnections: number
}

/**
 * PGlite (Postgres compiled to WebAssembly) in a worker thread of this process, behind a Postgres wire-protocol
 * socket on a free loopback port, so the ordinary Postgres adapter runs on it unchanged. For development and
 * tests only: one backend serves every connection in turn. Adopts the database the entry point prestarted when
 * it was started with these options (see EmbeddedPostgresWorker.ts).
 */
export const startEmbeddedPostgres = (
  options: EmbeddedPostgresOptions
): Effect.Effect<Redacted.Redacted<string>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const wanted = { dataDir: Option.getOrUndefined(options.dataDir), maxConnections: options.maxConnections }
    const handle = yield* Effect.acquireRelease(
      Effect.sync(() => takePrestarted(wanted) ?? launchEmbeddedPostgres(wanted)),
      (started) => Effect.promise(started.close)
    )
    // A database that cannot start is a defect of the machine (no memory, a broken install): the start fails.
    const address = yield* Effect.promise(() => handle.address)
    return Redacted.make(`postgres://postgres:postgres@${address}/postgres?sslmode=disable`)
  }).pipe(Effect.withSpan("EmbeddedPostgres.start"))

/** Closes a prestarted embedded database that the configuration did not ask for (DATABASE_DSN is set). */
export const discardPrestartedEmbeddedPostgres: Effect.Effect<void> = Effect.sync(() => takePrestarted(undefined))
