import { createHmac, timingSafeEqual } from "node:crypto";
import { invalidArgument } from "./errors.js";

/** Page sizes every List method shares. */
export const PAGE_SIZE_DEFAULT = 50;
export const PAGE_SIZE_MAX = 500;

/** The page size to use for a requested one: 0 means the default, larger than the maximum is capped. */
export function pageSizeOf(requested: number, field = "page_size"): number {
  if (requested < 0) {
    throw invalidArgument([{ field, description: "must not be negative", reason: "NEGATIVE" }]);
  }
  return requested === 0 ? PAGE_SIZE_DEFAULT : Math.min(requested, PAGE_SIZE_MAX);
}

/**
 * A page from `rows`, which were fetched with one row more than `limit` to tell whether another page follows.
 * `fits` may end the page early (it is asked about every row but the first). `last` is set only when rows follow
 * the page: the position to continue after.
 */
export function takePage<Row>(
  rows: readonly Row[],
  limit: number,
  fits: (row: Row) => boolean = () => true,
): { page: Row[]; last: Row | undefined } {
  const page: Row[] = [];
  for (const row of rows.slice(0, limit)) {
    if (page.length > 0 && !fits(row)) break;
    page.push(row);
  }
  return { page, last: rows.length > page.length ? page.at(-1) : undefined };
}

/** Signs and checks opaque page tokens, so a client can neither forge nor alter a cursor. */
export interface PageTokens {
  /** A token carrying `cursor`, bound to `scope` (the method and its filters). */
  encode(scope: string, cursor: unknown): string;
  /**
   * The cursor of `token`, or undefined for an empty token. INVALID_ARGUMENT when the token was altered, was
   * made by another server, or belongs to another scope (a different filter).
   */
  decode(scope: string, token: string, field?: string): unknown;
}

/**
 * Page tokens signed with HMAC-SHA256 under the key `secret` returns (read from the database once it is reachable;
 * it throws until then).
 */
export function createPageTokens(secret: () => Buffer): PageTokens {
  const sign = (scope: string, body: string) =>
    createHmac("sha256", secret()).update(scope).update("\n").update(body).digest().subarray(0, 16);
  return {
    encode(scope, cursor) {
      const body = Buffer.from(JSON.stringify(cursor)).toString("base64url");
      return `${body}.${sign(scope, body).toString("base64url")}`;
    },
    decode(scope, token, field = "page_token") {
      if (token === "") return undefined;
      const bad = () =>
        invalidArgument([
          { field, description: "is not a page token of this request; start again without one", reason: "INVALID" },
        ]);
      const [body, mac, extra] = token.split(".");
      if (body === undefined || mac === undefined || extra !== undefined) throw bad();
      // Compared as text, so that no other spelling of the same bytes passes.
      const expected = Buffer.from(sign(scope, body).toString("base64url"));
      const given = Buffer.from(mac);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw bad();
      try {
        return JSON.parse(Buffer.from(body, "base64url").toString("utf8"));
      } catch {
        throw bad();
      }
    },
  };
}
