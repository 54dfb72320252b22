// The peers' API-key check, as a user of grpc-js or Fastify writes one: `Authorization: Bearer <key>`, the key's
// SHA-256 looked up in an in-memory map of key hash → role (loaded once from the benchmark's database, so the peers
// take the product's keys), and the method's roles. Verified keys are kept by the key presented, as the product keeps
// its matches, so that a call costs a map lookup rather than a SHA-256.
import { createHash } from "node:crypto";
import Sqlite from "better-sqlite3";

/** The roles that may call each method the peers serve (the product's table for these methods, API keys only). */
const READERS: ReadonlySet<string> = new Set(["viewer", "game_server", "operator", "admin"]);
const METHOD_ROLES: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ["/liveops.v1.EventService/GetEvent", READERS],
  ["/liveops.v1.EventService/ListEvents", READERS],
]);

/** The product's key format: `lo_<16 hex id>_<43 base64url secret>`; only the secret's SHA-256 is stored. */
const KEY_FORMAT = /^lo_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** Verified keys kept at most, as many as the product keeps. */
const VERIFIED_KEPT = 10_000;

interface StoredKey {
  id: string;
  role: string;
  expireTime: number | null;
}

/** Why a call is refused: no valid key (UNAUTHENTICATED, HTTP 401) or a role that may not call the method (403). */
export interface Refusal {
  code: "unauthenticated" | "permission_denied";
  message: string;
}

/** The key check over the keys stored in `dbPath` (those not revoked when the peer starts). */
export function loadApiKeys(dbPath: string) {
  const db = new Sqlite(dbPath, { readonly: true });
  const rows = db
    .prepare<[], StoredKey & { secretHash: string }>(
      `SELECT id, role, secret_hash AS "secretHash", expire_time AS "expireTime" FROM api_keys
       WHERE revoke_time IS NULL`,
    )
    .all();
  db.close();
  const byHash = new Map(rows.map(({ secretHash, ...key }) => [secretHash, key]));
  const verified = new Map<string, StoredKey>();

  const keyOf = (token: string): StoredKey | undefined => {
    let key = verified.get(token);
    if (key) return key;
    const parts = KEY_FORMAT.exec(token);
    if (!parts?.[2]) return undefined;
    key = byHash.get(createHash("sha256").update(parts[2]).digest("hex"));
    if (key?.id !== parts[1]) return undefined;
    if (verified.size >= VERIFIED_KEPT) verified.clear();
    verified.set(token, key);
    return key;
  };

  return {
    /** Undefined when the `authorization` header's key may call `method` now, else why not. */
    check(authorization: string | undefined, method: string): Refusal | undefined {
      if (!authorization?.startsWith("Bearer ")) {
        return { code: "unauthenticated", message: 'missing "Authorization: Bearer <api key>" header' };
      }
      const key = keyOf(authorization.slice(7).trim());
      if (!key || (key.expireTime !== null && key.expireTime <= Date.now())) {
        return { code: "unauthenticated", message: "unknown or expired API key" };
      }
      if (!METHOD_ROLES.get(method)?.has(key.role)) {
        return { code: "permission_denied", message: `the ${key.role} role may not call ${method}` };
      }
      return undefined;
    },
  };
}
