import { status as GrpcCode } from "@grpc/grpc-js"
import { Cause, Match, Option } from "effect"
import type { AppError } from "../../domain/errors.js"

/** What a driving adapter answers for an outcome: the gRPC code, the HTTP status and a client-safe message. */
export interface EdgeStatus {
  readonly grpc: GrpcCode
  readonly http: number
  readonly message: string
}

/**
 * The one mapping from typed errors to statuses (ARCHITECTURE.md, "Errors at the edge"). Adding an error to
 * AppError without a case here stops the build. Messages are the errors' own: they name the field or the id,
 * never a cause, a query or a stack.
 */
export const statusOfError = (error: AppError): EdgeStatus =>
  Match.valueTags(error, {
    InvalidArgument: (e) => ({ grpc: GrpcCode.INVALID_ARGUMENT, http: 400, message: e.message }),
    UserNotFound: (e) => ({ grpc: GrpcCode.NOT_FOUND, http: 404, message: e.message }),
    EmailTaken: (e) => ({ grpc: GrpcCode.ALREADY_EXISTS, http: 409, message: e.message }),
    FailedPrecondition: (e) => ({ grpc: GrpcCode.FAILED_PRECONDITION, http: 400, message: e.message }),
    DeadlineExceeded: (e) => ({ grpc: GrpcCode.DEADLINE_EXCEEDED, http: 504, message: e.message }),
    DependencyUnavailable: (e) => ({ grpc: GrpcCode.UNAVAILABLE, http: 503, message: e.message }),
    // "May have happened": not UNAVAILABLE, which tells gRPC clients (and their retry policies) a retry is safe.
    WriteOutcomeUnknown: (e) => ({ grpc: GrpcCode.UNKNOWN, http: 502, message: e.message }),
    RateLimited: (e) => ({ grpc: GrpcCode.RESOURCE_EXHAUSTED, http: 429, message: e.message }),
    Unauthenticated: (e) => ({ grpc: GrpcCode.UNAUTHENTICATED, http: 401, message: e.message }),
    PermissionDenied: (e) => ({ grpc: GrpcCode.PERMISSION_DENIED, http: 403, message: e.message })
  })

export const CANCELLED: EdgeStatus = { grpc: GrpcCode.CANCELLED, http: 499, message: "cancelled by the client" }
export const INTERNAL: EdgeStatus = { grpc: GrpcCode.INTERNAL, http: 500, message: "internal error" }

export type Outcome =
  | { readonly _tag: "Failure"; readonly status: EdgeStatus; readonly error: AppError }
  | { readonly _tag: "Interrupted"; readonly status: EdgeStatus }
  /** A bug: the client gets a generic INTERNAL; the details go to the log only. */
  | { readonly _tag: "Defect"; readonly status: EdgeStatus }

export const outcomeOfCause = (cause: Cause.Cause<AppError>): Outcome =>
  Option.match(Cause.failureOption(cause), {
    onSome: (error) => ({ _tag: "Failure", status: statusOfError(error), error }),
    onNone: () =>
      Cause.isInterruptedOnly(cause) ? { _tag: "Interrupted", status: CANCELLED } : { _tag: "Defect", status: INTERNAL }
  })

/** The upper-case name of a gRPC code, for logs: `NOT_FOUND`. */
export const grpcCodeName = (code: GrpcCode): string => GrpcCode[code] ?? String(code)

const GO_CODE_NAMES = [
  "OK",
  "Canceled",
  "Unknown",
  "InvalidArgument",
  "DeadlineExceeded",
  "NotFound",
  "AlreadyExists",
  "PermissionDenied",
  "ResourceExhausted",
  "FailedPrecondition",
  "Aborted",
  "OutOfRange",
  "Unimplemented",
  "Internal",
  "Unavailable",
  "DataLoss",
  "Unauthenticated"
] as const

/** grpc-go's name of a code (codes.Code.String()): the `status` label of the Go service's metrics. */
export const goCodeName = (code: GrpcCode): string => GO_CODE_NAMES[code] ?? `Code(${code})`
