import { Code, ConnectError, createContextKey, type Interceptor } from "@connectrpc/connect";
import type { Clock } from "../clock.js";
import { StorageUnavailableError } from "../db/storage-errors.js";
import { reasonOf, serviceError } from "../errors.js";
import { parseApiKey, secretHashesEqual } from "../keys/api-key.js";
import type { ApiKeyRow, KeyStore, KeysMark } from "../keys/key-store.js";
import { looksLikeJwt, type PlayerTokens } from "../players/player-tokens.js";
import type { RateLimits } from "./rate-limits.js";
import { isPublic, mayCall, methodPath, type Role } from "./roles.js";

/** The caller of a request, once its key (or player token) is verified. */
export interface Principal {
  /** The API key's id; for a player token, "player:" and the player's id. */
  keyId: string;
  role: Role;
  /** For a player token (role `player`): the player it was minted for. */
  playerId?: string;
}

/** The verified caller, for handlers and the logging interceptor; undefined before authentication. */
export const principalKey = createContextKey<Principal | undefined>(undefined, { description: "the caller's API key" });
/** The address the call came from (see client-address.ts), for the limit on unknown keys. */
export const clientAddressKey = createContextKey<string>("unknown", { description: "the client's address" });

const BEARER = /^Bearer +(\S+) *$/i;
/** last_used_time is written at most this often per key. */
const LAST_USED_RESOLUTION_MS = 60_000;

/** Checks API keys, the permission table and rate limits for every protocol and the REST routes. */
export interface AccessControl {
  /**
   * The principal of an `Authorization` header value allowed to call the method at `path`:
   * - UNAUTHENTICATED when the header is missing or malformed or the key is unknown, expired or revoked;
   * - PERMISSION_DENIED when the key's role may not call the method;
   * - RESOURCE_EXHAUSTED when the key is over its rate limit, or when the key is unknown and `address` has
   *   presented more unknown keys than its allowance.
   * A key in effect is never refused because of its address: only unknown keys (guesses) count against an address.
   */
  check(authorization: string | null | undefined, path: string, address: string): Promise<Principal>;
  /**
   * Checks again, for a long-lived stream, that the key it was opened with is still in effect and allowed to call
   * the method: UNAUTHENTICATED or PERMISSION_DENIED like `check`, but no rate limit or failure is counted.
   */
  verify(authorization: string | null | undefined, path: string): Promise<Principal>;
}

function unauthenticated(reason: string, message: string) {
  return serviceError(Code.Unauthenticated, reason, message);
}

/** A presented key matched against its stored row: by its current secret, or by the previous one of a rotation. */
interface Match {
  row: ApiKeyRow;
  previousSecret: boolean;
}

/** The stored key whose current or previous secret the presented key carries. */
async function match(keys: KeyStore, token: string): Promise<Match> {
  const presented = parseApiKey(token);
  if (!presented) throw unauthenticated("API_KEY_MALFORMED", "the API key is not of the form lo_<id>_<secret>");
  const row = await keys.findKeyById(presented.id);
  if (row && secretHashesEqual(row.secretHash, presented.secretHash)) return { row, previousSecret: false };
  if (row?.previousSecretHash && secretHashesEqual(row.previousSecretHash, presented.secretHash)) {
    return { row, previousSecret: true };
  }
  throw unauthenticated("API_KEY_UNKNOWN", "unknown API key");
}

function denied(role: Role, path: string) {
  return serviceError(Code.PermissionDenied, "ROLE_NOT_ALLOWED", `the ${role} role may not call ${path}`, {
    metadata: { role, method: path },
  });
}

/** The bearer credential of an Authorization header value. */
function bearerOf(authorization: string | null | undefined): string {
  if (!authorization) throw unauthenticated("API_KEY_MISSING", 'missing "Authorization: Bearer <api key>" header');
  const token = BEARER.exec(authorization)?.[1];
  if (!token) {
    throw unauthenticated("AUTHORIZATION_MALFORMED", 'malformed Authorization header: expected "Bearer <api key>"');
  }
  return token;
}

/** The key row of a match that is in effect at `now`. */
function inEffect({ row, previousSecret }: Match, now: number): ApiKeyRow {
  if (previousSecret && (row.previousSecretExpireTime === null || now >= row.previousSecretExpireTime)) {
    throw unauthenticated("API_KEY_UNKNOWN", "unknown API key");
  }
  // A revocation is immediate whatever its time: the CLI or another host may run on a clock ahead of this one.
  if (row.revokeTime !== null) throw unauthenticated("API_KEY_REVOKED", "API key revoked");
  if (row.expireTime !== null && row.expireTime <= now) throw unauthenticated("API_KEY_EXPIRED", "API key expired");
  return row;
}

/** Matched keys kept at most, by presented key; all are dropped when full or when any stored key changes. */
const MATCHES_KEPT = 10_000;

/**
 * Access control backed by the key store, and by player tokens (see player-tokens.ts) for the player role. A
 * presented key's match (a SQLite read and a SHA-256 per call otherwise, ~10 % of a GetEvent) is kept until any
 * stored key changes — through this process, or through another connection such as the keys CLI (noticed within a
 * millisecond) — so a revocation, rotation or expiry applies to the next call; expiry and a rotation's grace are
 * checked against the clock on every call.
 */
export function createAccessControl(
  keys: KeyStore,
  clock: Clock,
  limits: RateLimits,
  playerTokens: PlayerTokens,
): AccessControl {
  const lastWritten = new Map<string, number>();
  const matches = new Map<string, Match>();
  let mark: KeysMark | undefined;
  const matchOf = async (token: string): Promise<Match> => {
    const since = await keys.keysChangedSince(mark);
    mark = since.mark;
    if (since.changed || matches.size >= MATCHES_KEPT) matches.clear();
    let found = matches.get(token);
    if (!found) {
      found = await match(keys, token);
      // Kept only if no key changed while it was read.
      if (mark === since.mark) matches.set(token, found);
    }
    return found;
  };
  const recordUse = (row: ApiKeyRow, now: number) => {
    const last = lastWritten.get(row.id) ?? row.lastUsedTime ?? Number.NEGATIVE_INFINITY;
    if (now - last < LAST_USED_RESOLUTION_MS) return;
    lastWritten.set(row.id, now);
    // Best effort, off the call's path: a failure only leaves the last use older.
    keys.touchKey(row.id, now).catch(() => lastWritten.delete(row.id));
  };

  /** The key row of an API key allowed to call `path` at `now`. */
  const allowedRow = async (token: string, path: string, now: number): Promise<ApiKeyRow> => {
    const row = inEffect(await matchOf(token), now);
    if (!mayCall(row.role, path)) throw denied(row.role, path);
    return row;
  };

  /** The principal of a player token allowed to call `path` at `now`. */
  const allowedPlayer = async (token: string, path: string, now: number): Promise<Principal> => {
    const { playerId } = await playerTokens.verify(token, now);
    if (!mayCall("player", path)) throw denied("player", path);
    return { keyId: `player:${playerId}`, role: "player", playerId };
  };

  return {
    async check(authorization, path, address) {
      const now = clock.now();
      const token = bearerOf(authorization);
      let row: ApiKeyRow;
      try {
        if (looksLikeJwt(token)) {
          const player = await allowedPlayer(token, path, now);
          await limits.consumeKey(player.keyId, "player", undefined);
          return player;
        }
        row = await allowedRow(token, path, now);
      } catch (err) {
        // Only a well-formed key that matches nothing (or a token no key of ours signed) is a guess. A missing or
        // malformed key guesses nothing (and is refused without a lookup); an expired or revoked one was issued.
        // Counting those would let one keyless client behind a NAT or a proxy lock its neighbours out.
        const reason = err instanceof ConnectError ? reasonOf(err) : undefined;
        if (reason === "API_KEY_UNKNOWN" || reason === "PLAYER_TOKEN_INVALID") await limits.recordFailure(address);
        throw err;
      }
      const override =
        row.rateLimitPerSecond !== null && row.rateLimitBurst !== null
          ? { perSecond: row.rateLimitPerSecond, burst: row.rateLimitBurst }
          : undefined;
      await limits.consumeKey(row.id, row.role, override);
      recordUse(row, now);
      return { keyId: row.id, role: row.role };
    },

    async verify(authorization, path) {
      const token = bearerOf(authorization);
      if (looksLikeJwt(token)) return allowedPlayer(token, path, clock.now());
      const row = await allowedRow(token, path, clock.now());
      return { keyId: row.id, role: row.role };
    },
  };
}

/**
 * `access`, refusing every call (UNAVAILABLE, as the database is why) until `started()`: a server that listened before
 * its database could be reached serves nothing before it has read what it keeps in memory and taken its places in
 * the change logs.
 */
export function startedOnly(access: AccessControl, started: () => boolean): AccessControl {
  const assertStarted = () => {
    if (!started()) throw new StorageUnavailableError("the server is starting: its database was not reachable yet");
  };
  return {
    check(authorization, path, address) {
      assertStarted();
      return access.check(authorization, path, address);
    },
    verify(authorization, path) {
      assertStarted();
      return access.verify(authorization, path);
    },
  };
}

/** The interceptor that applies {@link AccessControl} to every RPC and records the principal. */
export function createAuthInterceptor(access: AccessControl): Interceptor {
  return (next) => async (req) => {
    const path = methodPath(req.method);
    if (isPublic(path)) return await next(req);
    const address = req.contextValues.get(clientAddressKey);
    const principal = await access.check(req.header.get("authorization"), path, address);
    req.contextValues.set(principalKey, principal);
    return await next(req);
  };
}
