import { createRequire } from "node:module"

/** The package version, for build_info and the tracing resource. Read from package.json, from src/ or dist/. */
const read = (): string => {
  const require = createRequire(import.meta.url)
  for (const candidate of ["../../package.json", "../../../package.json"]) {
    try {
      const manifest: unknown = require(candidate)
      if (
        typeof manifest === "object" &&
        manifest !== null &&
        "name" in manifest &&
        manifest.name === "effect-microservice"
      ) {
        return "version" in manifest && typeof manifest.version === "string" ? manifest.version : "unknown"
      }
    } catch {
      // not at this depth
    }
  }
  return "unknown"
}

export const VERSION = read()
