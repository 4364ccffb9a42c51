import { Metric, type MetricPair, MetricState, Option } from "effect"

const escapeLabel = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')
const labels = (pairs: ReadonlyArray<readonly [string, string]>) =>
  pairs.length === 0 ? "" : `{${pairs.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`
const number = (value: number | bigint) =>
  typeof value === "bigint" ? value.toString() : Number.isFinite(value) ? String(value) : value > 0 ? "+Inf" : "-Inf"

/**
 * Every Effect metric (counters, gauges, histograms) in the Prometheus text format. The cache, loader, pool and
 * SQL metrics are Effect metrics, so the use cases and driven adapters never depend on a metrics library.
 */
export const renderEffectMetrics = (): string => {
  const byName = new Map<string, Array<MetricPair.MetricPair.Untyped>>()
  for (const pair of Metric.unsafeSnapshot()) {
    // Effect's own runtime counters (effect_fiber_*) break Prometheus naming rules and describe no request.
    if (pair.metricKey.name.startsWith("effect_")) continue
    const list = byName.get(pair.metricKey.name) ?? []
    list.push(pair)
    byName.set(pair.metricKey.name, list)
  }
  const lines: Array<string> = []
  for (const [name, pairs] of [...byName.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const first = pairs[0]?.metricState
    if (first === undefined) continue
    const type = MetricState.isCounterState(first)
      ? "counter"
      : MetricState.isGaugeState(first)
        ? "gauge"
        : MetricState.isHistogramState(first)
          ? "histogram"
          : undefined
    if (type === undefined) continue
    const help = Option.getOrElse(pairs[0]?.metricKey.description ?? Option.none(), () => name)
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
    for (const pair of pairs) {
      const tags = pair.metricKey.tags.map((t) => [t.key, t.value] as const)
      const state = pair.metricState
      if (MetricState.isCounterState(state)) lines.push(`${name}${labels(tags)} ${number(state.count)}`)
      else if (MetricState.isGaugeState(state)) lines.push(`${name}${labels(tags)} ${number(state.value)}`)
      else if (MetricState.isHistogramState(state)) {
        let sawInfinity = false
        for (const [boundary, count] of state.buckets) {
          sawInfinity ||= boundary === Number.POSITIVE_INFINITY
          lines.push(`${name}_bucket${labels([...tags, ["le", number(boundary)]])} ${count}`)
        }
        if (!sawInfinity) lines.push(`${name}_bucket${labels([...tags, ["le", "+Inf"]])} ${state.count}`)
        lines.push(`${name}_sum${labels(tags)} ${number(state.sum)}`, `${name}_count${labels(tags)} ${state.count}`)
      }
    }
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`
}
