import { randomUUID } from "node:crypto";
import { createContextKey } from "@connectrpc/connect";

/** The request id of the current call: the caller's `x-request-id`, or one the server made. */
export const requestIdKey = createContextKey<string>("", { description: "the call's request id" });

const ACCEPTABLE = /^[\x21-\x7e]{1,128}$/;

/** The caller's request id when it is 1 to 128 printable ASCII characters, else a new UUID. */
export function requestIdFrom(header: string | string[] | null | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value && ACCEPTABLE.test(value) ? value : randomUUID();
}
