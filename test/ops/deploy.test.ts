import { execFileSync } from "node:child_process"
import { Deployment } from "kubernetes-models/apps/v1"
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2"
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1"
import { PodDisruptionBudget } from "kubernetes-models/policy/v1"
import { ConfigMap, Service } from "kubernetes-models/v1"
import { assert, describe, it } from "vitest"
import { parseAllDocuments } from "yaml"

// The deployment files checked with the ops tools (npm run test:ops; .ci/run installs them from Debian): docker-compose
// parses the compose files, promtool checks and tests the Prometheus files, kubectl renders the Kubernetes overlays.

const root = new URL("../../", import.meta.url).pathname

/** Runs a tool the checks need, failing with how to install it when it is missing. */
const run = (tool: string, args: ReadonlyArray<string>, install: string): string => {
  try {
    return execFileSync(tool, args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error)
    throw new Error(`${tool} ${args.join(" ")} failed (${install}): ${detail}`)
  }
}

describe("docker compose files", () => {
  it("both parse (docker-compose needs no engine for config -q)", () => {
    const install = "apt-get install docker-compose"
    run("docker-compose", ["-f", "docker-compose.yml", "config", "-q"], install)
    run(
      "docker-compose",
      ["-f", "docker-compose.yml", "-f", "docker-compose.observability.yml", "config", "-q"],
      install
    )
    const services = run(
      "docker-compose",
      ["-f", "docker-compose.yml", "-f", "docker-compose.observability.yml", "config", "--services"],
      install
    )
    for (const name of ["app", "app2", "postgres", "redis", "prometheus", "grafana", "jaeger"]) {
      assert.include(services.split("\n"), name)
    }
  })
})

describe("Prometheus configuration and alert rules", () => {
  const install = "apt-get install prometheus (for promtool)"
  it("promtool check config", () =>
    void run("promtool", ["check", "config", "deploy/prometheus/prometheus.yml"], install))
  it("promtool check rules", () => void run("promtool", ["check", "rules", "deploy/prometheus/alerts.yml"], install))
  it("promtool test rules: each alert fires when it should, and not on client errors", () =>
    void run("promtool", ["test", "rules", "deploy/prometheus/alerts.test.yml"], install))
})

type Manifest = { readonly kind: string; readonly apiVersion: string } & Record<string, unknown>
// The rendered YAML is untyped: it goes onto an empty model, which validates it against the Kubernetes schema.
const models: Record<string, (object: Manifest) => { validate: () => void }> = {
  Deployment: (o) => Object.assign(new Deployment(), o),
  Service: (o) => Object.assign(new Service(), o),
  ConfigMap: (o) => Object.assign(new ConfigMap(), o),
  NetworkPolicy: (o) => Object.assign(new NetworkPolicy(), o),
  HorizontalPodAutoscaler: (o) => Object.assign(new HorizontalPodAutoscaler(), o),
  PodDisruptionBudget: (o) => Object.assign(new PodDisruptionBudget(), o)
}

const render = (dir: string): ReadonlyArray<Manifest> =>
  parseAllDocuments(run("kubectl", ["kustomize", dir], "kubectl: apt-get install kubectl, or the Kubernetes CLI")).map(
    (doc) => doc.toJSON()
  )

const seconds = (value: unknown) => Number(/^(\d+)s$/.exec(String(value))?.[1] ?? Number.NaN)

describe("Kubernetes manifests", () => {
  for (const dir of ["deploy/k8s/base", "deploy/k8s/overlays/production"]) {
    it(`${dir}: kustomize builds it and every object is valid against the Kubernetes schemas`, () => {
      const objects = render(dir)
      assert.deepStrictEqual([...new Set(objects.map((o) => o.kind))].sort(), Object.keys(models).sort())
      for (const object of objects) {
        const model = models[object.kind]
        assert.isDefined(model, object.kind)
        model?.(object).validate()
      }
    })
  }

  for (const dir of ["deploy/k8s/base", "deploy/k8s/overlays/production"]) {
    it(`${dir} ships locked: no Secret or placeholder rendered, pinned images, bounded emptyDir, a NetworkPolicy`, () => {
      const text = run("kubectl", ["kustomize", dir], "kubectl: apt-get install kubectl, or the Kubernetes CLI")
      const objects = render(dir)
      assert.notInclude(
        objects.map((o) => o.kind),
        "Secret",
        "the Secret comes from the secret store, never from kustomize"
      )
      assert.notMatch(text, /change-me|password@|REPLACE|example-secret/i, "no placeholder credential is rendered")
      const deployment = Object.assign(
        new Deployment(),
        objects.find((o) => o.kind === "Deployment")
      )
      const pod = deployment.spec?.template.spec
      for (const container of pod?.containers ?? []) {
        assert.match(
          container.image ?? "",
          /:[0-9]+\.[0-9]+\.[0-9]+(@sha256:[0-9a-f]{64})?$/,
          "image pinned by version"
        )
      }
      for (const volume of pod?.volumes ?? [])
        if (volume.emptyDir !== undefined) assert.isDefined(volume.emptyDir.sizeLimit, `${volume.name}: sizeLimit`)
      const policy = Object.assign(
        new NetworkPolicy(),
        objects.find((o) => o.kind === "NetworkPolicy")
      )
      assert.deepStrictEqual(policy.spec?.podSelector.matchLabels, { "app.kubernetes.io/name": "effect-microservice" })
      assert.deepStrictEqual(policy.spec?.policyTypes, ["Ingress"])
      const rules = policy.spec?.ingress ?? []
      assert.isAbove(rules.length, 0)
      for (const rule of rules) {
        // Every source is a selected namespace (no ipBlock, no "from anywhere")...
        assert.isAbove(rule.from?.length ?? 0, 0)
        for (const peer of rule.from ?? []) assert.isDefined(peer.namespaceSelector?.matchLabels)
        // ...and only the service's two ports.
        for (const port of rule.ports ?? []) assert.include(["grpc", "http"], port.port)
      }
      assert.isTrue(
        rules.some((rule) =>
          (rule.from ?? []).some((peer) => peer.podSelector?.matchLabels?.["app.kubernetes.io/name"] === "prometheus")
        ),
        "Prometheus may scrape"
      )
    })
  }

  it("the production overlay turns authentication on: it cannot start without a real secret or JWKS", () => {
    const config = Object.assign(
      new ConfigMap(),
      render("deploy/k8s/overlays/production").find((o) => o.kind === "ConfigMap")
    ).data
    assert.strictEqual(config?.AUTH_REQUIRED, "true")
  })

  it("probes, security and the shutdown budget are consistent", () => {
    const objects = render("deploy/k8s/overlays/production")
    const deployment = Object.assign(
      new Deployment(),
      objects.find((o) => o.kind === "Deployment")
    )
    const config =
      Object.assign(
        new ConfigMap(),
        objects.find((o) => o.kind === "ConfigMap")
      ).data ?? {}
    const pod = deployment.spec?.template.spec
    const container = pod?.containers[0]
    assert.strictEqual(container?.startupProbe?.httpGet?.path, "/startupz")
    assert.strictEqual(container?.readinessProbe?.httpGet?.path, "/readyz")
    assert.strictEqual(container?.livenessProbe?.httpGet?.path, "/livez")
    assert.strictEqual(pod?.securityContext?.runAsNonRoot, true)
    assert.strictEqual(container?.securityContext?.readOnlyRootFilesystem, true)
    assert.strictEqual(container?.securityContext?.allowPrivilegeEscalation, false)
    assert.deepStrictEqual(container?.securityContext?.capabilities?.drop, ["ALL"])
    assert.isDefined(container?.resources?.limits?.memory)
    const preStop = container?.lifecycle?.preStop?.exec?.command ?? []
    const preStopSeconds = preStop[0] === "sleep" ? Number(preStop[1]) : 0
    const budget =
      preStopSeconds +
      seconds(config.SHUTDOWN_DELAY) +
      seconds(config.GRPC_SHUTDOWN_TIMEOUT) +
      2 +
      seconds(config.TRACING_SHUTDOWN_TIMEOUT) +
      seconds(config.HTTP_SHUTDOWN_TIMEOUT)
    assert.isBelow(budget, pod?.terminationGracePeriodSeconds ?? 0, "the whole shutdown fits before SIGKILL")
    assert.isAtLeast(
      preStopSeconds + seconds(config.SHUTDOWN_DELAY),
      5,
      "endpoints are removed before the drain starts (preStop or SHUTDOWN_DELAY)"
    )
  })
})
