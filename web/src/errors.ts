import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";

/** A sentence for people about a failed call. */
export function describeError(err: unknown): string {
  const e = ConnectError.from(err);
  switch (e.code) {
    case Code.PermissionDenied:
      return `Your key's role may not do this (${e.rawMessage}).`;
    case Code.Unauthenticated:
      return `The key was not accepted: ${e.rawMessage}. Sign in again.`;
    case Code.Unavailable:
      return "The server cannot be reached. Check your connection and try again.";
    default:
      return e.rawMessage;
  }
}

/** The field violations of an INVALID_ARGUMENT, by field path without the `event.` prefix. */
export function fieldErrorsOf(err: unknown, prefix = "event."): Map<string, string> {
  const errors = new Map<string, string>();
  const e = ConnectError.from(err);
  if (e.code !== Code.InvalidArgument) return errors;
  for (const detail of e.findDetails(BadRequestSchema)) {
    for (const v of detail.fieldViolations) {
      const field = v.field.startsWith(prefix) ? v.field.slice(prefix.length) : v.field;
      errors.set(field, errors.has(field) ? `${errors.get(field)}; ${v.description}` : v.description);
    }
  }
  return errors;
}

/**
 * The violations of one input, from fieldErrorsOf: those of `field` itself and of its items (`field[2]`), an item's
 * told by its value in `items` (the list that was sent), e.g. `“vip”: no such audience`.
 */
export function violationsAt(errors: Map<string, string>, field: string, items: readonly string[] = []) {
  const texts: string[] = [];
  for (const [path, description] of errors) {
    if (path === field) texts.push(description);
    else if (path.startsWith(`${field}[`)) {
      const item = items[Number(/^\[(\d+)\]/.exec(path.slice(field.length))?.[1])];
      texts.push(item !== undefined ? `“${item}”: ${description}` : `${path}: ${description}`);
    }
  }
  return texts.length > 0 ? texts.join("; ") : undefined;
}

/**
 * The retry policy of a query whose request the person typed: once, as for every query, unless the server refused
 * the request itself (asking again would only delay showing why).
 */
export function retryUnlessRefused(failures: number, err: unknown): boolean {
  const refused = [Code.InvalidArgument, Code.NotFound, Code.PermissionDenied, Code.FailedPrecondition];
  return failures < 1 && !refused.includes(ConnectError.from(err).code);
}
