import { status as GrpcCode, ResponderBuilder, ServerInterceptingCall, type ServerInterceptor } from "@grpc/grpc-js"

/**
 * grpc-js answers a request it cannot decode with INTERNAL before any handler runs. It is the client's mistake,
 * not ours: answer INVALID_ARGUMENT, with a message that says so (and no parser internals).
 */
export const malformedIsInvalidArgument: ServerInterceptor = (_method, call) =>
  new ServerInterceptingCall(
    call,
    new ResponderBuilder()
      .withSendStatus((status, next) =>
        next(
          status.code === GrpcCode.INTERNAL && (status.details ?? "").startsWith("Error deserializing request")
            ? { ...status, code: GrpcCode.INVALID_ARGUMENT, details: "malformed request message" }
            : status
        )
      )
      .build()
  )
