import { configDefaults, defineConfig } from "vitest/config"
import base from "./vitest.config.js"

// npm run test:ops: the checks that need the ops tools (promtool and prometheus, docker-compose, kubectl), which
// npm test does not require. .ci/run installs them from Debian and runs both.
export default defineConfig({
  test: { ...base.test, include: ["test/ops/**/*.test.ts"], exclude: configDefaults.exclude }
})
