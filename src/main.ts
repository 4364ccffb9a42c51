import { setFlagsFromString } from "node:v8"
import { EMBEDDED_MAX_CONNECTIONS, prestartEmbeddedPostgres } from "./adapters/pglite/EmbeddedPostgresWorker.js"
import { readSettings } from "./main/Settings.js"

// The entry point. Without DATABASE_DSN the service runs on the embedded Postgres: it starts now, in a thread of
// its own, while the service's modules load on this one (each takes about a second). The modules imported above
// use Node built-ins only. The guess reads the environment and .env with the configuration's own reader
// (readSettings); the database adapter closes the prestarted database if the configuration disagrees.
const settings = readSettings()
if (!settings.has("DATABASE_DSN")) {
  // PGlite's WebAssembly compiled by the baseline compiler only: about 80 MB less memory than with V8's
  // optimising tier for hot functions, for a development database that holds a few rows. Only WebAssembly is
  // affected (set before any is compiled); JavaScript is optimised as usual.
  setFlagsFromString("--liftoff-only")
  prestartEmbeddedPostgres({ dataDir: settings.get("DATABASE_EMBEDDED_DIR"), maxConnections: EMBEDDED_MAX_CONNECTIONS })
}

await import("./main/serve.js")
