import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/globalSetup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Suites that boot an embedded Postgres use ~0.5 GB each: two at a time fits the 2-core machines.
    maxWorkers: 2,
    minWorkers: 1
  }
})
