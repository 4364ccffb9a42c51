import { execFileSync } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { openApiDocument } from "../../src/adapters/http/RestApi.js"

// The OpenAPI document (served at /openapi.json, shown at /docs) says what the API really is (issue 16, finding 9).
const operations = Object.entries(openApiDocument.paths).flatMap(([path, item]) =>
  Object.entries(item).map(([method, operation]) => ({ path, method, operation }))
)
const statusesOf = (method: string, path: string) =>
  Object.keys(operations.find((o) => o.method === method && o.path === path)?.operation.responses ?? {}).sort()

describe("the OpenAPI document", () => {
  it("names the package and its version, a server, and the bearer scheme every operation declares", () => {
    expect(openApiDocument.info.title).toBe("effect-microservice")
    expect(openApiDocument.info.version).toMatch(/^\d+\.\d+\.\d+/)
    expect(openApiDocument.servers?.length).toBeGreaterThan(0)
    expect(openApiDocument.components.securitySchemes).toMatchObject({ bearer: { type: "http", scheme: "bearer" } })
    expect(operations.length).toBe(5)
    for (const { operation } of operations) {
      expect(operation.summary, operation.operationId).toBeTruthy()
      expect(operation.security, operation.operationId).toEqual([{ bearer: [] }])
      expect(operation.description, operation.operationId).toContain("With authentication on")
    }
  })

  it("lists only the statuses each operation can answer", () => {
    expect(statusesOf("get", "/v1/users/{id}")).toEqual(["200", "400", "401", "403", "404", "429", "500", "503", "504"])
    expect(statusesOf("get", "/v1/users")).not.toContain("409")
    expect(statusesOf("get", "/v1/users")).not.toContain("404")
    expect(statusesOf("post", "/v1/users")).toEqual(expect.arrayContaining(["201", "409", "413", "415", "500", "502"]))
    expect(statusesOf("delete", "/v1/users/{id}")).not.toContain("409")
    for (const { operation } of operations) expect(Object.keys(operation.responses)).toContain("500")
  })
})

describe("the OpenAPI document, linted", () => {
  it("has no error under Redocly's recommended ruleset (@redocly/cli, offline)", () => {
    const file = join(mkdtempSync(join(tmpdir(), "openapi-")), "openapi.json")
    writeFileSync(file, JSON.stringify(openApiDocument))
    const cli = fileURLToPath(new URL("../../node_modules/@redocly/cli/bin/cli.js", import.meta.url))
    let output = ""
    try {
      output = execFileSync(process.execPath, [cli, "lint", file, "--extends=recommended", "--format=json"], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
        timeout: 60_000
      })
    } catch (error) {
      // A lint with errors exits non-zero; its report is still on stdout.
      output = typeof error === "object" && error !== null && "stdout" in error ? String(error.stdout) : String(error)
    }
    const report: { totals: { errors: number }; problems: ReadonlyArray<{ ruleId: string; message: string }> } =
      JSON.parse(output)
    const errors = report.problems.filter((p) => p.ruleId !== "info-license")
    // The one warning left is info-license: the template has no license; the team that copies it names its own.
    expect(report.totals.errors, JSON.stringify(errors)).toBe(0)
    expect(
      errors.map((p) => p.ruleId),
      "warnings besides info-license"
    ).toEqual([])
  })
})
