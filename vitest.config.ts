import { configDefaults, defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The checks that need ops tools (promtool, docker-compose, kubectl) run in their own script: npm run test:ops.
    exclude: [...configDefaults.exclude, "test/ops/**"],
    globalSetup: ["test/support/globalSetup.ts"],
    // Each test's own output (its [measure] lines) only when it fails; the run ends with one summary line.
    silent: "passed-only",
    reporters: ["default", "./test/support/SummaryLine.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Suites that boot an embedded Postgres use ~0.5 GB each: two at a time fits the 2-core machines.
    maxWorkers: 2,
    minWorkers: 1
  }
})
