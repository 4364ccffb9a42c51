import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { freePort } from "./ports.js"
import { probeRedis } from "./RedisSource.js"

const redisServerBinary = (): string => {
  try {
    return execFileSync("sh", ["-c", "command -v redis-server"]).toString().trim()
  } catch {
    throw new Error(
      "redis-server is not installed: the Redis fault tests start their own (apt-get install redis-server)"
    )
  }
}

/**
 * A redis-server of the test's own, on a free loopback port, with no persistence, that the test can stop,
 * freeze (SIGSTOP), resume and start again on the same port. Always stopped by `close` (by its PID).
 */
export const startRedisServer = async () => {
  const binary = redisServerBinary()
  const port = await freePort()
  const url = `redis://127.0.0.1:${port}`
  let child: ChildProcess | undefined

  const start = async () => {
    child = spawn(binary, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
      stdio: "ignore"
    })
    const deadline = Date.now() + 5000
    while ((await probeRedis(url)) !== undefined) {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer within 5 s`)
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  }
  const stop = async () => {
    const running = child
    child = undefined
    if (running === undefined || running.exitCode !== null) return
    const exited = new Promise((resolve) => running.once("exit", resolve))
    running.kill("SIGCONT")
    running.kill("SIGKILL")
    await exited
  }

  await start()
  return {
    port,
    url,
    start,
    stop,
    freeze: () => void child?.kill("SIGSTOP"),
    resume: () => void child?.kill("SIGCONT"),
    close: stop
  }
}
export type RedisServer = Awaited<ReturnType<typeof startRedisServer>>
