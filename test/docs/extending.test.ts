import { existsSync, readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"

// docs/extending.md shows the audit log example's code. Each ```ts block starts with `// <file>`; the rest of the
// block must appear in that file (whitespace aside), so the guide fails CI when the code moves on without it.

const root = new URL("../../", import.meta.url)
const guide = readFileSync(new URL("docs/extending.md", root), "utf8")
const blocks = [...guide.matchAll(/```ts\n\/\/ (\S+)\n([\s\S]*?)```/g)].map(([, file = "", code = ""]) => ({
  file,
  code
}))
// Formatting aside: Biome wraps a call in the code (indented) that fits on one line in the guide (not indented).
const squash = (text: string) =>
  text
    .replace(/\s+/g, " ")
    .replace(/([([{]) /g, "$1")
    .replace(/ ([)\]}])/g, "$1")
    .trim()

describe("docs/extending.md", () => {
  it("shows code blocks, each naming its file", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(10)
    expect(guide.match(/```ts\n/g)?.length).toBe(blocks.length)
  })

  it.each(blocks.map((b, i) => [`${i + 1}: ${b.file}`, b] as const))("block %s is in the code", (_, block) => {
    const path = new URL(block.file, root)
    expect(existsSync(path), `${block.file} exists`).toBe(true)
    expect(squash(readFileSync(path, "utf8"))).toContain(squash(block.code))
  })

  it("names only files that exist", () => {
    const named = [...guide.matchAll(/`((?:src|test)\/[\w/.-]+\.ts)`/g)].map(([, file = ""]) => file)
    expect(named.length).toBeGreaterThan(5)
    for (const file of named) expect(existsSync(new URL(file, root)), file).toBe(true)
  })
})
