import { create, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  BadRequest_FieldViolationSchema,
  BadRequestSchema,
  ErrorInfoSchema,
  RetryInfoSchema,
} from "../gen/google/rpc/error_details_pb.js";
import { StorageTimeoutError, StorageUnavailableError } from "./db/storage-errors.js";

/** The google.rpc.ErrorInfo domain of every error this service raises. */
export const ERROR_DOMAIN = "liveops";

/** One invalid field of a request: its path (e.g. `event.rewards[1].quantity`) and why. */
export interface FieldViolation {
  field: string;
  description: string;
  reason?: string;
}

type Detail = { desc: DescMessage; value: MessageInitShape<DescMessage> };

/**
 * THE way the service makes errors: a code, a message for people, and a google.rpc.ErrorInfo with a stable
 * UPPER_SNAKE_CASE reason for programs, plus any other details.
 */
export function serviceError(
  code: Code,
  reason: string,
  message: string,
  options: { metadata?: Record<string, string>; details?: Detail[]; headers?: Headers | Record<string, string> } = {},
): ConnectError {
  return new ConnectError(message, code, options.headers, [
    errorInfo(reason, options.metadata),
    ...(options.details ?? []),
  ]);
}

/** The google.rpc.ErrorInfo detail of a service error: a stable reason in the liveops domain. */
export function errorInfo(reason: string, metadata: Record<string, string> = {}): Detail {
  return { desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason, domain: ERROR_DOMAIN, metadata }) };
}

/** The ErrorInfo reason of an error, if it has one. */
export function reasonOf(err: ConnectError): string | undefined {
  return err.findDetails(ErrorInfoSchema)[0]?.reason;
}

/** The error with an ErrorInfo: unchanged when it has one, else with a reason named after its code. */
export function withErrorInfo(err: ConnectError): ConnectError {
  if (reasonOf(err) !== undefined) return err;
  const reason = Code[err.code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
  return serviceError(err.code, reason, err.rawMessage, {
    headers: err.metadata,
    details: err.details.filter((d): d is Detail => "desc" in d),
  });
}

/** INVALID_ARGUMENT carrying a google.rpc.BadRequest with every violation. */
export function invalidArgument(violations: readonly FieldViolation[]): ConnectError {
  const summary = violations.map((v) => `${v.field}: ${v.description}`).join("; ");
  const badRequest = create(BadRequestSchema, {
    fieldViolations: violations.map((v) =>
      create(BadRequest_FieldViolationSchema, {
        field: v.field,
        description: v.description,
        reason: v.reason ?? "INVALID",
      }),
    ),
  });
  return serviceError(Code.InvalidArgument, "INVALID_ARGUMENT", summary, {
    details: [{ desc: BadRequestSchema, value: badRequest }],
  });
}

/** Throws INVALID_ARGUMENT when there is at least one violation. */
export function assertValid(violations: readonly FieldViolation[]): void {
  if (violations.length > 0) throw invalidArgument(violations);
}

/** NOT_FOUND for a resource of some kind (`event`, `api_key`): reason `EVENT_NOT_FOUND` and so on. */
export function notFound(kind: string, id: string): ConnectError {
  return serviceError(Code.NotFound, `${kind.toUpperCase()}_NOT_FOUND`, `${kind.replace("_", " ")} ${id} not found`, {
    metadata: { id },
  });
}

/** ABORTED: the caller's etag no longer matches; it should read the resource again and retry. */
export function etagMismatch(kind: string, id: string): ConnectError {
  return serviceError(
    Code.Aborted,
    "ETAG_MISMATCH",
    `${kind} ${id} has changed since the given etag was read; read it again and retry`,
    { metadata: { id } },
  );
}

/** ALREADY_EXISTS: an idempotency key was reused for a different request. */
export function requestIdReused(requestId: string): ConnectError {
  return serviceError(
    Code.AlreadyExists,
    "REQUEST_ID_REUSED",
    `request_id ${requestId} was already used for a different request; use a new request_id`,
  );
}

/** RESOURCE_EXHAUSTED with a google.rpc.RetryInfo and a `retry-after` header (whole seconds, rounded up). */
export function rateLimited(reason: string, message: string, retryAfterMs: number): ConnectError {
  const delay = Math.max(0, Math.ceil(retryAfterMs));
  return serviceError(Code.ResourceExhausted, reason, message, {
    headers: { "retry-after": String(Math.max(1, Math.ceil(delay / 1000))) },
    details: [{ desc: RetryInfoSchema, value: create(RetryInfoSchema, { retryDelay: durationFromMs(delay) }) }],
  });
}

/**
 * What a client may see of any error: ConnectErrors pass (given an ErrorInfo when they lack one); anything else
 * becomes a bare INTERNAL, so that SQL, paths and stack traces never leave the server. The caller logs the
 * original.
 */
export function publicError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return withErrorInfo(err);
  // The database's own messages hold no SQL or parameters (storage-errors.ts): safe to show.
  if (err instanceof StorageUnavailableError) {
    return serviceError(Code.Unavailable, "DATABASE_UNAVAILABLE", err.message, {
      details: [{ desc: RetryInfoSchema, value: { retryDelay: durationFromMs(1000) } }],
    });
  }
  if (err instanceof StorageTimeoutError) return serviceError(Code.DeadlineExceeded, "DATABASE_TIMEOUT", err.message);
  return serviceError(Code.Internal, "INTERNAL", "internal error");
}
