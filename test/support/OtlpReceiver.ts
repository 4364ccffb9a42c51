import { createServer } from "node:http"

export interface ReceivedSpan {
  readonly service: string
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string
  readonly name: string
  readonly kind: number
  readonly statusCode: number
  readonly attributes: Readonly<Record<string, string | number | boolean>>
}

type AnyValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number }
type KeyValue = { key: string; value: AnyValue }
interface Export {
  resourceSpans?: Array<{
    resource?: { attributes?: Array<KeyValue> }
    scopeSpans?: Array<{
      spans?: Array<{
        traceId: string
        spanId: string
        parentSpanId?: string
        name: string
        kind: number
        status?: { code?: number }
        attributes?: Array<KeyValue>
      }>
    }>
  }>
}

const readAnyValue = (value: AnyValue): string | number | boolean =>
  value.stringValue ??
  (value.intValue !== undefined ? Number(value.intValue) : (value.boolValue ?? value.doubleValue ?? ""))
const attributes = (list: Array<KeyValue> = []) =>
  Object.fromEntries(list.map((kv) => [kv.key, readAnyValue(kv.value)]))

/** An OTLP/HTTP (JSON) trace receiver on a free loopback port, keeping every span it is sent. */
export const startOtlpReceiver = async () => {
  const spans: Array<ReceivedSpan> = []
  const server = createServer((request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      if (request.url === "/v1/traces") {
        const body: Export = JSON.parse(Buffer.concat(chunks).toString("utf8"))
        for (const resource of body.resourceSpans ?? []) {
          const service = String(attributes(resource.resource?.attributes)["service.name"] ?? "")
          for (const scope of resource.scopeSpans ?? []) {
            for (const span of scope.spans ?? []) {
              spans.push({
                service,
                traceId: span.traceId,
                spanId: span.spanId,
                parentSpanId: span.parentSpanId ?? "",
                name: span.name,
                kind: span.kind,
                statusCode: span.status?.code ?? 0,
                attributes: attributes(span.attributes)
              })
            }
          }
        }
      }
      response.writeHead(200, { "content-type": "application/json" }).end("{}")
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  return {
    port: typeof address === "object" && address !== null ? address.port : 0,
    spans,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}
export type OtlpReceiver = Awaited<ReturnType<typeof startOtlpReceiver>>
