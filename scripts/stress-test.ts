// npm run test:stress: the whole `npm test` suite, in shuffled order, while two CPU-bound processes keep both cores
// busy (as on a shared CI machine). The busy processes are this script's own children, stopped by PID when the run
// ends, however it ends. Arguments after `--` go to vitest (for example `--sequence.seed=42` to repeat an order).
import { type ChildProcess, spawn } from "node:child_process"
import { availableParallelism } from "node:os"

const busy: Array<ChildProcess> = Array.from({ length: Math.max(2, availableParallelism()) }, () =>
  spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" })
)
const stopBusy = () => {
  for (const child of busy) if (child.exitCode === null) child.kill("SIGKILL")
}
process.on("exit", stopBusy)
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.on(signal, () => {
    stopBusy()
    process.exit(130)
  })

console.log(
  `[stress] ${busy.length} CPU-bound processes (PIDs ${busy.map((c) => c.pid).join(", ")}) while the suite runs`
)
const started = Date.now()
const vitest = spawn("npx", ["vitest", "run", "--sequence.shuffle", ...process.argv.slice(2)], { stdio: "inherit" })
vitest.on("exit", (code) => {
  console.log(`[stress] suite ended with code ${code} after ${Math.round((Date.now() - started) / 1000)} s under load`)
  stopBusy()
  process.exit(code ?? 1)
})
