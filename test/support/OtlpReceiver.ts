import { createServer } from "node:http"
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire"

export interface ReceivedSpan {
  readonly service: string
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string
  readonly name: string
  readonly kind: number
  readonly statusCode: number
  readonly attributes: Readonly<Record<string, string | number | boolean>>
  /** How it arrived: OTLP/HTTP in protobuf or in JSON. */
  readonly encoding: "protobuf" | "json"
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

/** The fields of one protobuf message, by field number, in order (repeated fields repeat). */
const fieldsOf = (bytes: Uint8Array): Array<[number, WireType, BinaryReader]> => {
  const reader = new BinaryReader(bytes)
  const fields: Array<[number, WireType, BinaryReader]> = []
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag()
    const start = reader.pos
    reader.skip(wireType, field)
    const value = new BinaryReader(bytes.subarray(start, reader.pos))
    fields.push([field, wireType, value])
  }
  return fields
}
const messages = (bytes: Uint8Array, field: number) =>
  fieldsOf(bytes)
    .filter(([n, wireType]) => n === field && wireType === WireType.LengthDelimited)
    .map(([, , value]) => value.bytes())
const first = (bytes: Uint8Array, field: number) => fieldsOf(bytes).find(([n]) => n === field)?.[2]
const hex = (bytes: Uint8Array | undefined) => Buffer.from(bytes ?? new Uint8Array()).toString("hex")

const keyValues = (bytes: Uint8Array, field: number): Array<KeyValue> =>
  messages(bytes, field).map((kv) => {
    const value = messages(kv, 2)[0] ?? new Uint8Array()
    const string = first(value, 1)
    const bool = first(value, 2)
    const int = first(value, 3)
    const double = first(value, 4)
    return {
      key: first(kv, 1)?.string() ?? "",
      value: {
        ...(string === undefined ? {} : { stringValue: string.string() }),
        ...(bool === undefined ? {} : { boolValue: bool.bool() }),
        ...(int === undefined ? {} : { intValue: String(int.int64()) }),
        ...(double === undefined ? {} : { doubleValue: double.double() })
      }
    }
  })

/** An ExportTraceServiceRequest in protobuf (opentelemetry-proto's field numbers), in the JSON mapping's shape. */
const decodeProtobuf = (bytes: Uint8Array): Export => ({
  resourceSpans: messages(bytes, 1).map((resourceSpans) => ({
    resource: { attributes: keyValues(messages(resourceSpans, 1)[0] ?? new Uint8Array(), 1) },
    scopeSpans: messages(resourceSpans, 2).map((scopeSpans) => ({
      spans: messages(scopeSpans, 2).map((span) => ({
        traceId: hex(messages(span, 1)[0]),
        spanId: hex(messages(span, 2)[0]),
        parentSpanId: hex(messages(span, 4)[0]),
        name: first(span, 5)?.string() ?? "",
        kind: first(span, 6)?.int32() ?? 0,
        status: { code: first(messages(span, 15)[0] ?? new Uint8Array(), 3)?.int32() ?? 0 },
        attributes: keyValues(span, 9)
      }))
    }))
  }))
})

/** An OTLP/HTTP trace receiver on a free loopback port, keeping every span it is sent, in protobuf or JSON. */
export const startOtlpReceiver = async () => {
  const spans: Array<ReceivedSpan> = []
  const server = createServer((request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      if (request.url === "/v1/traces") {
        const raw = Buffer.concat(chunks)
        const protobuf = request.headers["content-type"] === "application/x-protobuf"
        const body: Export = protobuf ? decodeProtobuf(new Uint8Array(raw)) : JSON.parse(raw.toString("utf8"))
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
                attributes: attributes(span.attributes),
                encoding: protobuf ? "protobuf" : "json"
              })
            }
          }
        }
      }
      // An empty ExportTraceServiceResponse in the request's encoding: a full success.
      if (request.headers["content-type"] === "application/x-protobuf")
        response.writeHead(200, { "content-type": "application/x-protobuf" }).end()
      else response.writeHead(200, { "content-type": "application/json" }).end("{}")
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
