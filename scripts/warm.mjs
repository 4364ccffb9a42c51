// The "prepare" script (run by npm install and npm ci): builds npm start's bundle and the embedded database's
// snapshot, so that the first `npm start` is as quick as the next ones (about 5 s sooner). Best effort: a failure
// here (no esbuild in a production install, no sources yet in an image's dependency layer) never fails the install.
import { dirname, join } from "node:path"
import { pathToFileURL } from "node:url"

try {
  const { bundleService } = await import("./bundle.mjs")
  const main = await bundleService()
  const { launchEmbeddedPostgres } = await import(pathToFileURL(join(dirname(main), "EmbeddedPostgresWorker.mjs")).href)
  const database = launchEmbeddedPostgres({ dataDir: undefined, maxConnections: 1 })
  await database.address
  await database.close()
  console.log("npm start is ready: bundle built, embedded database snapshot taken")
} catch (error) {
  console.log(`npm start will prepare itself at its first run (${error instanceof Error ? error.message : error})`)
}
