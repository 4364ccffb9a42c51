import { readdirSync, readFileSync } from "node:fs"
import { join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const root = fileURLToPath(new URL("../..", import.meta.url))
const scripts: Record<string, string> = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).scripts

/** The path filters a `vitest run <filter>...` script passes (vitest runs the files whose path contains one). */
const filtersOf = (script: string): ReadonlyArray<string> =>
  (scripts[script] ?? "").split(/\s+/).filter((word) => word.startsWith("test/"))

const testFiles = (dir: string): ReadonlyArray<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return testFiles(path)
    return entry.name.endsWith(".test.ts") ? [relative(root, path)] : []
  })

describe("the README's test scripts", () => {
  it("test:unit and test:integration together run every suite of npm test (test/ops is test:ops')", () => {
    const filters = [...filtersOf("test:unit"), ...filtersOf("test:integration")]
    const suites = testFiles(join(root, "test")).filter((file) => !file.startsWith("test/ops/"))
    expect(suites.length).toBeGreaterThan(40)
    expect(suites.filter((file) => !filters.some((filter) => file.includes(filter)))).toEqual([])
  })
})
