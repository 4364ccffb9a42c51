import { existsSync, readFileSync } from "node:fs"
import { parseEnv } from "node:util"
import { setFlagsFromString } from "node:v8"
import { EMBEDDED_MAX_CONNECTIONS, prestartEmbeddedPostgres } from "./adapters/pglite/EmbeddedPostgresWorker.js"

// The entry point. Without DATABASE_DSN the service runs on the embedded Postgres: it starts now, in a thread of
// its own, while the service's modules load on this one (each takes about a second). Only node built-ins are
// imported above this line. The guess reads the environment and .env as the configuration does (the
// environment wins, an empty value is unset); the database adapter closes the prestarted database if the
// configuration disagrees.
const dotEnv = existsSync(".env") ? parseEnv(readFileSync(".env", "utf8")) : {}
const setting = (name: string): string | undefined =>
  [process.env[name], dotEnv[name]].find((value) => value !== undefined && value !== "")
if (setting("DATABASE_DSN") === undefined) {
  // PGlite's WebAssembly compiled by the baseline compiler only: about 120 MB less memory than with V8's
  // optimising tier for hot functions, for a development database that holds a few rows. Only WebAssembly is
  // affected (set before any is compiled); JavaScript is optimised as usual.
  setFlagsFromString("--liftoff-only")
  prestartEmbeddedPostgres({ dataDir: setting("DATABASE_EMBEDDED_DIR"), maxConnections: EMBEDDED_MAX_CONNECTIONS })
}

await import("./main/serve.js")
