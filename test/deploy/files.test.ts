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

describe("Grafana provisioning", () => {
  type Provisioned = { readonly name: string; readonly uid: string; readonly type: string; readonly url: string }
  const provisioned: ReadonlyArray<Provisioned & { readonly isDefault?: boolean }> = parse(
    readFileSync(`${root}deploy/grafana/provisioning/datasources/prometheus.yml`, "utf8")
  ).datasources

  /** Every datasource a dashboard names (panels, their queries, annotations, variables), wherever it sits. */
  const datasourcesOf = (node: unknown): ReadonlyArray<{ readonly type: string; readonly uid: string }> => {
    if (Array.isArray(node)) return node.flatMap(datasourcesOf)
    if (typeof node !== "object" || node === null) return []
    const own = "datasource" in node ? [node.datasource] : []
    return [
      ...own.flatMap((ref) =>
        typeof ref === "object" && ref !== null && "uid" in ref
          ? [{ type: String("type" in ref ? ref.type : ""), uid: String(ref.uid) }]
          : []
      ),
      ...Object.values(node).flatMap(datasourcesOf)
    ]
  }
  const dashboard = (path: string): unknown => JSON.parse(readFileSync(`${root}${path}`, "utf8"))

  for (const [who, path] of [
    // test/fixtures/go-boilerplate/README.md: the Go boilerplate's own dashboard, byte for byte.
    ["the Go boilerplate's dashboard", "test/fixtures/go-boilerplate/dashboard.json"],
    ["this project's dashboard", "deploy/grafana/dashboards/effect-microservice.json"]
  ] as const) {
    it(`defines every datasource ${who} names, with its type: it imports unchanged`, () => {
      // Grafana's built-in annotation source ("-- Grafana --") is not provisioned; every other one must be.
      const refs = datasourcesOf(dashboard(path)).filter((ref) => ref.type !== "grafana")
      assert.isAbove(refs.length, 0)
      for (const ref of refs) {
        const found = provisioned.find((source) => source.uid === ref.uid)
        assert.isDefined(found, `${path}: no datasource with uid ${ref.uid}`)
        assert.strictEqual(found?.type, ref.type, `${path}: datasource ${ref.uid}`)
      }
    })
  }

  it("the Go boilerplate's uid (prometheus-ds) and this project's (prometheus) are the same Prometheus", () => {
    const byUid = (uid: string) => provisioned.find((source) => source.uid === uid)
    assert.strictEqual(byUid("prometheus-ds")?.url, byUid("prometheus")?.url)
    assert.strictEqual(byUid("prometheus-ds")?.type, "prometheus")
    // Grafana refuses a provisioning file with two names alike or two defaults.
    assert.strictEqual(new Set(provisioned.map((source) => source.name)).size, provisioned.length)
    assert.strictEqual(provisioned.filter((source) => source.isDefault === true).length, 1)
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
