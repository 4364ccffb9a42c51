// npm start: the service from its bundle (see bundle.mjs), built first when the sources changed (about 1.5 s).
import { pathToFileURL } from "node:url"
import { bundleService } from "./bundle.mjs"

const main = await bundleService()
// Stack traces point into src/*.ts.
process.setSourceMapsEnabled(true)
await import(pathToFileURL(main).href)
