import { existsSync, readFileSync } from "node:fs"
import { parseEnv } from "node:util"

// Node built-ins only: the entry point reads the settings with this before any other module loads.

/**
 * The process environment over the variables of a `.env` file (the environment wins). An empty value counts
 * as unset, as in the Go service, so `FOO=` in a compose file selects the default.
 */
export const readSettings = (
  env: NodeJS.ProcessEnv = process.env,
  dotEnvPath: string | undefined = ".env"
): Map<string, string> => {
  const merged = new Map<string, string>()
  const fromFile = dotEnvPath !== undefined && existsSync(dotEnvPath) ? parseEnv(readFileSync(dotEnvPath, "utf8")) : {}
  for (const source of [fromFile, env]) {
    for (const [key, value] of Object.entries(source)) {
      if (value !== undefined && value !== "") merged.set(key, value)
    }
  }
  return merged
}
