import { readdirSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { migrationsDirectory } from "../../src/adapters/postgres/Migrations.js"
import { migrations } from "../../src/adapters/postgres/migrations/index.js"

describe("migrations/index.ts", () => {
  it("lists every migration file of the folder once, in id order, and nothing else", async () => {
    const files = readdirSync(migrationsDirectory)
      .flatMap((file) => {
        const match = /^(\d+)_([a-z0-9_]+)\.ts$/.exec(file)
        return match === null ? [] : [`${Number(match[1])} ${match[2]}`]
      })
      .sort()
    const listed = migrations.map(([id, name]) => `${id} ${name}`)
    expect(listed).toEqual([...files].sort())
    expect(migrations.map(([id]) => id)).toEqual(migrations.map(([id]) => id).sort((a, b) => a - b))
    // Each line loads its own file: a migration module default-exports its Effect.
    for (const [, , load] of migrations) {
      const module: unknown = await load()
      expect(module).toHaveProperty("default")
    }
  })
})
