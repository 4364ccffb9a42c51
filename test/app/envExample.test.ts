import { readFileSync } from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { Config, Effect } from "effect"
import { declaredVariables, envConfigProvider, ServiceConfig } from "../../src/main/Config.js"

const root = new URL("../../", import.meta.url)
const variablesIn = (text: string, pattern: RegExp) => new Set([...text.matchAll(pattern)].map((m) => m[1]))
const example = variablesIn(readFileSync(new URL(".env.example", root), "utf8"), /^#?\s*([A-Z][A-Z0-9_]+)=/gm)
const docs = variablesIn(readFileSync(new URL("docs/configuration.md", root), "utf8"), /^\| `([A-Z][A-Z0-9_]+)`\s*\|/gm)

/** The declared variables that .env.example or docs/configuration.md leave out. */
const undocumented = (config: Config.Config<unknown>) =>
  Effect.map(declaredVariables(config), (declared) => ({
    declared,
    notInExample: declared.filter((name) => !example.has(name)),
    notInDocs: declared.filter((name) => !docs.has(name))
  }))

describe(".env.example and docs/configuration.md", () => {
  it.effect("is a valid configuration as shipped", () =>
    Effect.asVoid(
      ServiceConfig.pipe(Effect.withConfigProvider(envConfigProvider({}, new URL(".env.example", root).pathname)))
    )
  )

  it.effect("list every variable the adapters declare, and the docs describe each", () =>
    Effect.gen(function* () {
      const { declared, notInExample, notInDocs } = yield* undocumented(ServiceConfig)
      assert.include(declared, "DATABASE_DSN")
      assert.include(declared, "AUTH_JWT_SECRET")
      assert.deepStrictEqual(notInExample, [])
      assert.deepStrictEqual(notInDocs, [])
      // .env.example sets nothing the service does not read (a typo there would silently do nothing).
      assert.deepStrictEqual(
        [...example].filter((name) => name !== undefined && !declared.includes(name)),
        []
      )
    })
  )

  it.effect("a variable declared without documentation is caught", () =>
    Effect.gen(function* () {
      const { notInExample, notInDocs } = yield* undocumented(
        Config.all([ServiceConfig, Config.string("NEW_SETTING").pipe(Config.withDefault("x"))])
      )
      assert.include(notInExample, "NEW_SETTING")
      assert.include(notInDocs, "NEW_SETTING")
    })
  )
})
