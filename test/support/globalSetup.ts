import type { TestProject } from "vitest/node"
import { choosePostgresSource } from "./PostgresSource.js"

declare module "vitest" {
  export interface ProvidedContext {
    /** Empty when the suites use the embedded Postgres. */
    postgresAdminUrl: string
    postgresSource: string
  }
}

export default async function setup(project: TestProject) {
  const source = await choosePostgresSource((line) => console.log(`[test harness] ${line}`))
  project.provide("postgresSource", source.kind)
  project.provide("postgresAdminUrl", source.kind === "embedded" ? "" : source.adminUrl)
  return async () => {
    if (source.kind !== "embedded") await source.stop?.()
  }
}
