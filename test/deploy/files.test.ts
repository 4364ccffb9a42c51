import { readFileSync } from "node:fs"
import { assert, describe, it } from "vitest"

// The deployment files that need no tool to check. What needs promtool, docker-compose or kubectl is in
// test/ops (npm run test:ops).

const root = new URL("../../", import.meta.url).pathname

describe("Grafana dashboard", () => {
  it("has the Go service's four panels and the golden signals", () => {
    const dashboard: { panels: ReadonlyArray<{ title: string; targets: ReadonlyArray<{ expr: string }> }> } =
      JSON.parse(readFileSync(`${root}deploy/grafana/dashboards/effect-microservice.json`, "utf8"))
    const titles = dashboard.panels.map((p) => p.title)
    for (const title of [
      "Average gRPC duration",
      "p95 latency",
      "Requests per method",
      "Total requests",
      "Errors by code",
      "Latency percentiles",
      "Traffic",
      "Cache hit ratio"
    ]) {
      assert.include(titles, title)
    }
    assert.isTrue(titles.some((t) => t.startsWith("Saturation")))
  })
})
