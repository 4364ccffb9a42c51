import { describe, expect, it } from "vitest"
import { makeAdmission } from "../../src/adapters/grpc/Admission.js"

describe("admission control", () => {
  it("sheds calls beyond MAX_IN_FLIGHT, and admits again as calls finish", () => {
    const admission = makeAdmission({ maxInFlight: 2, ratePerSecond: 0, burst: 1 })
    const a = admission.enter("x")
    const b = admission.enter("x")
    const c = admission.enter("x")
    expect([a.ok, b.ok, c.ok]).toEqual([true, true, false])
    expect(c.ok ? "" : c.reason).toBe("server overloaded: 2 calls in flight; retry later")
    if (a.ok) a.leave()
    expect(admission.enter("x").ok).toBe(true)
  })

  it("gives each caller a token bucket: the burst passes, then the sustained rate", () => {
    const admission = makeAdmission({ maxInFlight: 1000, ratePerSecond: 1, burst: 3 })
    const results = Array.from({ length: 5 }, () => admission.enter("10.0.0.1"))
    for (const r of results) if (r.ok) r.leave()
    expect(results.map((r) => r.ok)).toEqual([true, true, true, false, false])
    const refused = results[3]
    expect(refused?.ok ? "" : refused?.reason).toBe("rate limit exceeded for 10.0.0.1; retry later")
    // Another caller has a bucket of its own.
    expect(admission.enter("10.0.0.2").ok).toBe(true)
  })
})

describe("adaptive limit (MAX_IN_FLIGHT=auto)", () => {
  /** Runs `windows` windows of 100 ms with the limit fully used, each call taking `rttMs`; returns the limits seen. */
  const drive = (
    admission: ReturnType<typeof makeAdmission>,
    clock: { now: number },
    rttMs: number,
    windows: number
  ): Array<number> => {
    const limits: Array<number> = []
    for (let w = 0; w < windows; w++) {
      // Fill the limit, then let every call end after rttMs: a window that is fully used.
      const admitted = []
      for (;;) {
        const a = admission.enter("x")
        if (!a.ok) break
        admitted.push(a)
      }
      clock.now += Math.max(rttMs, 100)
      for (const a of admitted) if (a.ok) a.leave()
      limits.push(admission.limit())
    }
    return limits
  }

  it("shrinks when latency grows, grows back when it falls, within its floor and ceiling", () => {
    const clock = { now: 0 }
    const admission = makeAdmission({
      maxInFlight: "auto",
      ratePerSecond: 0,
      burst: 1,
      adaptive: { initial: 50, min: 10, max: 200 },
      now: () => clock.now
    })
    expect(admission.adaptive).toBe(true)
    expect(admission.limit()).toBe(50)
    // Steady latency: the limit grows (it is used to the full), up to the ceiling and never above it.
    const steady = drive(admission, clock, 100, 200)
    expect(Math.max(...steady)).toBe(200)
    expect(steady.at(-1)).toBe(200)
    // Latency ×10 (calls queue): the limit shrinks, down to the floor and never below it.
    const slow = drive(admission, clock, 1000, 60)
    expect(slow.at(-1)).toBeLessThan(200)
    expect(Math.min(...slow)).toBe(10)
    expect(slow.every((limit) => limit >= 10)).toBe(true)
    // Latency back to normal: the limit grows again.
    const recovered = drive(admission, clock, 100, 200)
    expect(recovered.at(-1)).toBeGreaterThan(100)
    expect(recovered.every((limit) => limit >= 10 && limit <= 200)).toBe(true)
  })

  it("does not grow while the limit is not used (app-limited), and reports shed calls at most every 10 s", () => {
    const clock = { now: 0 }
    const admission = makeAdmission({
      maxInFlight: "auto",
      ratePerSecond: 0,
      burst: 1,
      adaptive: { initial: 40, min: 10, max: 200 },
      now: () => clock.now
    })
    for (let i = 0; i < 500; i++) {
      const a = admission.enter("x") // one call at a time: far below half the limit
      clock.now += 5
      if (a.ok) a.leave()
    }
    expect(admission.limit()).toBe(40)

    const fixed = makeAdmission({ maxInFlight: 1, ratePerSecond: 0, burst: 1, now: () => clock.now })
    expect(fixed.report()).toBeUndefined()
    const held = fixed.enter("x")
    expect(fixed.enter("x").ok).toBe(false)
    expect(fixed.report()).toEqual({ shed: 1, limit: 1, previousLimit: 1 })
    expect(fixed.enter("x").ok).toBe(false)
    expect(fixed.enter("x").ok).toBe(false)
    expect(fixed.report()).toBeUndefined() // within 10 s of the previous report
    clock.now += 10_000
    expect(fixed.report()).toEqual({ shed: 2, limit: 1, previousLimit: 1 })
    if (held.ok) held.leave()
  })
})
