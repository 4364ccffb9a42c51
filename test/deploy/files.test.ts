import { readFileSync } from "node:fs"
import { assert, describe, it } from "vitest"
import { parse } from "yaml"

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

describe("deployment files ship locked", () => {
  const composeFiles = ["docker-compose.yml", "docker-compose.observability.yml"]
  type Compose = { services: Record<string, { image?: string; ports?: ReadonlyArray<string> }> }

  it("compose publishes every port on 127.0.0.1 unless BIND_ADDRESS says otherwise", () => {
    for (const file of composeFiles) {
      const compose: Compose = parse(readFileSync(`${root}${file}`, "utf8"))
      for (const [name, service] of Object.entries(compose.services))
        for (const port of service.ports ?? [])
          assert.match(port, /^\$\{BIND_ADDRESS:-127\.0\.0\.1\}:\d+:\d+$/, `${file} ${name}`)
    }
  })

  it("every image is pinned by version, the Dockerfile's base by digest", () => {
    for (const file of composeFiles) {
      const compose: Compose = parse(readFileSync(`${root}${file}`, "utf8"))
      for (const [name, service] of Object.entries(compose.services))
        if (service.image !== undefined) assert.match(service.image, /:v?\d+\.\d+(\.\d+)?$/, `${file} ${name}`)
    }
    const dockerfile = readFileSync(`${root}Dockerfile`, "utf8")
    assert.match(dockerfile, /^ARG NODE_IMAGE=node:[\w.-]+@sha256:[0-9a-f]{64}$/m)
    assert.notMatch(
      dockerfile,
      /^FROM (?!\$\{NODE_IMAGE\}|deps |build |prod-deps )/m,
      "every stage builds on the pinned base"
    )
  })

  it(".dockerignore keeps secrets and certificates out of the build context", () => {
    const ignored = readFileSync(`${root}.dockerignore`, "utf8").split("\n")
    for (const pattern of [".env", ".env.*", ".certs", "*.pem", "*.key", ".git", "node_modules"])
      assert.include(ignored, pattern)
  })
})
