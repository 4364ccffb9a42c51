import { Logger } from "effect"
import { jsonLogger } from "../../src/adapters/observability/Logger.js"

export type LogEntry = Record<string, unknown> & { readonly level: string; readonly message: string }

/** The service's JSON log lines, parsed and kept in memory instead of written to stdout. */
export const captureLogs = () => {
  const entries: Array<LogEntry> = []
  const layer = Logger.replace(
    Logger.defaultLogger,
    Logger.map(jsonLogger, (line) => {
      entries.push(JSON.parse(line))
    })
  )
  return { entries, layer }
}
