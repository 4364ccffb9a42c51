import { readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

/**
 * The package version, for build_info and the tracing resource: from the nearest package.json above this module
 * that is this project's (it runs from src/, dist/src/ or npm start's transpiled copy under node_modules/.cache).
 */
const read = (): string => {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dirname(dir) !== dir; dir = dirname(dir)) {
    try {
      const manifest: unknown = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"))
      if (
        typeof manifest === "object" &&
        manifest !== null &&
        "name" in manifest &&
        manifest.name === "effect-microservice"
      ) {
        return "version" in manifest && typeof manifest.version === "string" ? manifest.version : "unknown"
      }
    } catch {
      // none here, or not readable: look further up
    }
  }
  return "unknown"
}

export const VERSION = read()
