import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequest_FieldViolationSchema, BadRequestSchema } from "../gen/google/rpc/error_details_pb.js";

/** One invalid field of a request: its path (e.g. `event.rewards[1].quantity`) and why. */
export interface FieldViolation {
  field: string;
  description: string;
  reason?: string;
}

/** INVALID_ARGUMENT carrying a google.rpc.BadRequest with every violation. */
export function invalidArgument(violations: readonly FieldViolation[]): ConnectError {
  const summary = violations.map((v) => `${v.field}: ${v.description}`).join("; ");
  return new ConnectError(summary, Code.InvalidArgument, undefined, [
    {
      desc: BadRequestSchema,
      value: create(BadRequestSchema, {
        fieldViolations: violations.map((v) =>
          create(BadRequest_FieldViolationSchema, {
            field: v.field,
            description: v.description,
            reason: v.reason ?? "INVALID",
          }),
        ),
      }),
    },
  ]);
}

/** Throws INVALID_ARGUMENT when there is at least one violation. */
export function assertValid(violations: readonly FieldViolation[]): void {
  if (violations.length > 0) throw invalidArgument(violations);
}

/** NOT_FOUND for a resource of some kind. */
export function notFound(kind: string, id: string): ConnectError {
  return new ConnectError(`${kind} ${id} not found`, Code.NotFound);
}

/** ABORTED: the caller's etag no longer matches; it should read the resource again and retry. */
export function etagMismatch(kind: string, id: string): ConnectError {
  return new ConnectError(
    `${kind} ${id} has changed since the given etag was read; read it again and retry`,
    Code.Aborted,
  );
}

/** ALREADY_EXISTS: an idempotency key was reused for a different request. */
export function requestIdReused(requestId: string): ConnectError {
  return new ConnectError(
    `request_id ${requestId} was already used for a different request; use a new request_id`,
    Code.AlreadyExists,
  );
}

/**
 * What a client may see of any error: ConnectErrors pass unchanged; anything else becomes a bare INTERNAL, so
 * that SQL, paths and stack traces never leave the server. The caller logs the original.
 */
export function publicError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  return new ConnectError("internal error", Code.Internal);
}
