import type { ServiceDefinition } from "@grpc/grpc-js"

/** What a request that could not be decoded becomes (see `tolerant`). */
export class MalformedRequest {
  readonly _tag = "MalformedRequest"
}

/**
 * The service with decoding that never throws: a message that cannot be decoded becomes a MalformedRequest, which
 * the handler answers with INVALID_ARGUMENT. (grpc-js would answer INTERNAL, before any handler or interceptor
 * runs: it is the client's mistake, not ours.)
 */
export const tolerant = (service: ServiceDefinition): ServiceDefinition =>
  Object.fromEntries(
    Object.entries(service).map(([name, method]) => [
      name,
      {
        ...method,
        requestDeserialize: (bytes: Buffer) => {
          try {
            return method.requestDeserialize(bytes)
          } catch {
            return new MalformedRequest()
          }
        }
      }
    ])
  )
