import { writeSync } from "node:fs"
import type { Reporter, SerializedError, TestModule, TestRunEndReason } from "vitest/node"

/** The last line of a run (`npm test`): what passed, failed and was skipped, and how long it took. */
export default class SummaryLine implements Reporter {
  private started = performance.now()

  onTestRunStart() {
    this.started = performance.now()
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>, errors: ReadonlyArray<SerializedError>, reason: TestRunEndReason) {
    const count = { passed: 0, failed: 0, skipped: 0 }
    for (const module of modules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state
        if (state === "passed") count.passed += 1
        else if (state === "failed") count.failed += 1
        else count.skipped += 1
      }
    }
    const brokenFiles = modules.filter((module) => module.state() === "failed" && !module.children.size).length
    const seconds = Math.round((performance.now() - this.started) / 1000)
    const problems = [
      ...(brokenFiles > 0 ? [`${brokenFiles} files failed to load`] : []),
      ...(errors.length > 0 ? [`${errors.length} unhandled errors`] : [])
    ]
    const line = `${reason === "passed" ? "PASSED" : "FAILED"}: ${count.passed} passed, ${count.failed} failed, ${count.skipped} skipped in ${modules.length} files, ${seconds} s${problems.length > 0 ? ` (${problems.join(", ")})` : ""}\n`
    // Written as the process exits, after the default reporter's summary block: the output's last line.
    process.once("exit", () => writeSync(1, line))
  }
}
