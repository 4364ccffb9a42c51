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
