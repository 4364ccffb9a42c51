import { readFileSync } from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { AppConfig, envConfigProvider } from "../../src/app/Config.js"

const root = new URL("../../", import.meta.url)
const variablesIn = (text: string, pattern: RegExp) => new Set([...text.matchAll(pattern)].map((m) => m[1]))

describe(".env.example and docs/configuration.md", () => {
  it.effect("is a valid configuration as shipped", () =>
    Effect.asVoid(
      AppConfig.pipe(Effect.withConfigProvider(envConfigProvider({}, new URL(".env.example", root).pathname)))
    )
  )

  it("lists every variable the service reads, and the docs describe each", () => {
    const source = readFileSync(new URL("src/app/Config.ts", root), "utf8")
    const read = variablesIn(source, /"([A-Z][A-Z0-9]*_[A-Z0-9_]+)"/g)
    const example = variablesIn(readFileSync(new URL(".env.example", root), "utf8"), /^#?\s*([A-Z][A-Z0-9_]+)=/gm)
    const docs = variablesIn(
      readFileSync(new URL("docs/configuration.md", root), "utf8"),
      /^\| `([A-Z][A-Z0-9_]+)`\s*\|/gm
    )
    assert.strictEqual(read.size, 82)
    assert.deepStrictEqual(
      [...read].filter((name) => !example.has(name)),
      []
    )
    assert.deepStrictEqual(
      [...read].filter((name) => !docs.has(name)),
      []
    )
  })
})
