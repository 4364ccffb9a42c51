// The service as one JavaScript file, for npm start and the tests that start it as a process. esbuild bundles
// src/main.ts (no type check: that is `npm run typecheck`) with the ES-module packages it imports (effect,
// @effect/*: about 1,300 modules that Node's ESM loader would otherwise resolve and load one by one, most of a
// second here) into node_modules/.cache/effect-microservice/start/<hash of the sources and the lockfile>/, reused
// while neither changes. Every other package stays a plain import: CommonJS packages that find files beside them
// (grpc-js's reflection protos, PGlite's WebAssembly) load from node_modules as usual.
import { createHash } from "node:crypto"
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs"
import { dirname, join, relative } from "node:path"
import { fileURLToPath } from "node:url"

const root = dirname(dirname(fileURLToPath(import.meta.url)))
const sourceDir = join(root, "src")
const cacheDir = join(root, "node_modules", ".cache", "effect-microservice", "start")
const KEEP = 3

const sources = (dir) =>
  readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => {
      const path = join(dir, entry.name)
      return entry.isDirectory() ? sources(path) : [path]
    })
    .sort()

// Bundled: ES modules only, each loaded once from one file. Everything else is left to Node.
const BUNDLED = /^(effect|@effect\/[^/]+|fast-check|pure-rand|find-my-way-ts|multipasta|@bufbuild\/protobuf)(\/|$)/
const externalPackages = {
  name: "external-packages",
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) => (BUNDLED.test(args.path) ? undefined : { external: true }))
  }
}

/** The bundle of src/main.ts for these sources: built when missing, else reused. Returns its path. */
export const bundleService = async () => {
  const files = [...sources(sourceDir), join(root, "package-lock.json"), fileURLToPath(import.meta.url)]
  const hash = createHash("sha256").update(process.version)
  for (const file of files) hash.update(relative(root, file)).update("\0").update(readFileSync(file)).update("\0")
  const out = join(cacheDir, hash.digest("hex").slice(0, 16))

  if (!existsSync(join(out, "main.mjs"))) {
    const { build, stop } = await import("esbuild")
    const staging = `${out}.${process.pid}.tmp`
    await build({
      // The embedded database's launcher too, for scripts/warm.mjs.
      entryPoints: [join(sourceDir, "main.ts"), join(sourceDir, "adapters", "pglite", "EmbeddedPostgresWorker.ts")],
      outdir: staging,
      entryNames: "[name]",
      outExtension: { ".js": ".mjs" },
      // main.ts starts the embedded database, then imports the rest: a chunk of its own, so that its packages load
      // after the database has started.
      splitting: true,
      bundle: true,
      plugins: [externalPackages],
      format: "esm",
      platform: "node",
      target: "node20",
      // Stack traces point into src/ (the files are there: the maps need no copy of them).
      sourcemap: true,
      sourcesContent: false,
      logLevel: "warning"
    })
    await stop()
    try {
      renameSync(staging, out)
    } catch {
      // Another start (a parallel test) got there first with the same output.
      rmSync(staging, { recursive: true, force: true })
    }
    // The newest few builds stay (switching branches back and forth); older ones go, as do builds left half done
    // by a start that was killed. Another process may be pruning too: what is gone already is skipped.
    try {
      const builds = readdirSync(cacheDir).flatMap((name) => {
        try {
          return [{ name, time: statSync(join(cacheDir, name)).mtimeMs }]
        } catch {
          return []
        }
      })
      const stale = builds.filter(({ name, time }) => name.endsWith(".tmp") && Date.now() - time > 3_600_000)
      const done = builds.filter(({ name }) => !name.endsWith(".tmp")).sort((a, b) => b.time - a.time)
      for (const old of [...stale, ...done.slice(KEEP)])
        rmSync(join(cacheDir, old.name), { recursive: true, force: true })
    } catch {
      // A cache: pruning it is best effort.
    }
  }
  return join(out, "main.mjs")
}
