import { createHash } from "node:crypto";
import type { RequestHandler } from "./http-server.js";

type Response = Parameters<RequestHandler>[1];

/**
 * What a successful read may be kept as: by the caller's own cache only (`private`: the body is one key's or one
 * player's view, which a shared cache must not hand to another), and never used without asking again (`no-cache`:
 * events start and end by the clock, so no freshness lifetime is safe). The ETag makes asking again cheap.
 */
export const READ_CACHE_CONTROL = "private, no-cache";

/** What an error may be kept as: nothing. */
export const ERROR_CACHE_CONTROL = "no-store";

/**
 * A strong entity tag of a response body: 128 bits of its SHA-256, base64url. A compressed body is another
 * representation (RFC 9110 §8.8.3), so its tag carries the content coding after the hash of the identity bytes:
 * a client that sends back the tag it got finds it equal to the one of the same coding, never to another's.
 */
export function entityTag(body: Uint8Array | string, contentCoding?: string): string {
  let digest = typeof body === "string" ? undefined : digests.get(body);
  if (digest === undefined) {
    digest = createHash("sha256").update(body).digest("base64url").slice(0, 22);
    if (typeof body !== "string") digests.set(body, digest);
  }
  return contentCoding ? `"${digest}-${contentCoding}"` : `"${digest}"`;
}

/** The digests of bodies: a cached response's bytes (see encoding-memo.ts) are the same object call after call. */
const digests = new WeakMap<Uint8Array, string>();

/** An entity tag in a list such as If-None-Match: `W/"…"` or `"…"`; `*` is handled apart. */
const ENTITY_TAG = /(?:W\/)?"[^"]*"/g;

/**
 * Whether `If-None-Match` names `etag` (or is `*`), by the weak comparison RFC 9110 §13.1.2 prescribes for it: a
 * `W/` prefix on either side is ignored. Undefined (no header) never matches.
 */
export function noneMatchHits(ifNoneMatch: string | string[] | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  const header = Array.isArray(ifNoneMatch) ? ifNoneMatch.join(", ") : ifNoneMatch;
  if (header.trim() === "*") return true;
  const wanted = etag.startsWith("W/") ? etag.slice(2) : etag;
  for (const tag of header.match(ENTITY_TAG) ?? []) {
    if ((tag.startsWith("W/") ? tag.slice(2) : tag) === wanted) return true;
  }
  return false;
}

/** The response's Vary with `names` added (those it names already are kept once, in their place). */
export function varyWith(res: Response, names: readonly string[]): string {
  const current = res.getHeader("vary");
  const listed = (Array.isArray(current) ? current.join(",") : String(current ?? ""))
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name !== "");
  const known = new Set(listed.map((name) => name.toLowerCase()));
  for (const name of names) if (!known.has(name.toLowerCase())) listed.push(name);
  return listed.join(", ");
}

/** A read that may be answered 304: the request's If-None-Match and what its answer varies by. */
export interface ConditionalRead {
  ifNoneMatch: string | string[] | undefined;
  /** The request headers the body depends on: always Authorization (whose view it is). */
  vary: readonly string[];
}

/** The conditional read of a GET or HEAD request; undefined for any other method. */
export function conditionalRead(
  method: string | undefined,
  ifNoneMatch: string | string[] | undefined,
  vary: readonly string[] = ["Authorization"],
): ConditionalRead | undefined {
  return method === "GET" || method === "HEAD" ? { ifNoneMatch, vary } : undefined;
}

/**
 * Sets the caching headers of a read's answer into `headers`: for a body, its ETag, {@link READ_CACHE_CONTROL} and
 * Vary; for an error (no body), `no-store`. Returns true when the client's copy is current: the caller answers
 * `304 Not Modified` with these headers and no body (see {@link sendNotModified}).
 */
export function cacheHeaders(
  res: Response,
  headers: { set(name: string, value: string): void },
  read: ConditionalRead,
  body: Uint8Array | string | undefined,
  contentCoding?: string,
  etag = body === undefined ? undefined : entityTag(body, contentCoding),
): boolean {
  if (etag === undefined) {
    headers.set("cache-control", ERROR_CACHE_CONTROL);
    return false;
  }
  headers.set("etag", etag);
  headers.set("cache-control", READ_CACHE_CONTROL);
  headers.set("vary", varyWith(res, read.vary));
  return noneMatchHits(read.ifNoneMatch, etag);
}

/** Answers 304 Not Modified: the validator and caching headers already set, no body, no content headers. */
export function sendNotModified(res: Response, headers: Record<string, string> = {}) {
  for (const name of ["content-type", "content-length", "content-encoding"]) {
    res.removeHeader(name);
    delete headers[name];
  }
  res.writeHead(304, headers);
  res.end();
}
