// The listing peer's page tokens: the cursor of the next page, signed so that a client can neither forge nor alter it.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Cursor } from "./event-reads.js";

/** Next-page tokens kept, as many as the product keeps. */
const TOKENS_KEPT = 1000;

/** Signed page tokens (HMAC-SHA256 under a secret of this process), so that a client can neither forge nor alter one. */
export function createPageTokens() {
  const secret = randomBytes(32);
  const sign = (body: string) =>
    createHmac("sha256", secret).update(body).digest().subarray(0, 16).toString("base64url");
  // The token of a cursor is the same every time: the hot pages' tokens are kept, as the product keeps its own.
  const kept = new Map<string, string>();
  return {
    encode(cursor: Cursor): string {
      const key = `${cursor.startTime}/${cursor.id}`;
      let token = kept.get(key);
      if (token === undefined) {
        const body = Buffer.from(JSON.stringify({ startTime: cursor.startTime, id: cursor.id })).toString("base64url");
        token = `${body}.${sign(body)}`;
        if (kept.size >= TOKENS_KEPT) kept.clear();
        kept.set(key, token);
      }
      return token;
    },
    /** The cursor of a token, or undefined when it is not one of ours. */
    decode(token: string): Cursor | undefined {
      const [body, mac, extra] = token.split(".");
      if (body === undefined || mac === undefined || extra !== undefined) return undefined;
      const expected = Buffer.from(sign(body));
      const given = Buffer.from(mac);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
      try {
        const cursor = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as Cursor;
        return Number.isSafeInteger(cursor.startTime) && typeof cursor.id === "string" ? cursor : undefined;
      } catch {
        return undefined;
      }
    },
  };
}
