import { randomBytes, randomUUID, webcrypto } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { sql } from "drizzle-orm";
import { errors as joseErrors, jwtVerify, SignJWT } from "jose";
import { type AuditActor, appendAuditEntry } from "../audit/audit-log.js";
import { appendClusterChange } from "../cluster/cluster-changes.js";
import type { SqlClient, Storage, Transaction } from "../db/storage.js";
import { serviceError } from "../errors.js";

/** The issuer and audience of player tokens: a token of another system (or of an API) is refused. */
const ISSUER = "liveops";
const AUDIENCE = "liveops:player";
/** Verified tokens kept at most (each checked against the clock and its key on every call). */
const VERIFIED_KEPT = 10_000;
/** A token naming a key this process does not know reads the keys again at most this often. */
const UNKNOWN_KEY_RELOAD_MS = 1000;

/** A key that signs player tokens, as stored. */
interface SigningKey {
  id: string;
  /** The secret, imported once: jose would import raw bytes again on every signature and check (~40 % of one). */
  secret: webcrypto.CryptoKey;
  createTime: number;
  retireTime: number | null;
}

/** Who a verified token is for. */
export interface PlayerTokenClaims {
  playerId: string;
  expireTime: number;
  keyId: string;
}

/**
 * Whether a bearer credential has the shape of a JWT (three base64url parts, the last empty for an unsecured one), not
 * of an API key.
 */
export function looksLikeJwt(token: string): boolean {
  return /^[\w-]+\.[\w-]+\.[\w-]*$/.test(token);
}

function unauthenticated(reason: string, message: string) {
  return serviceError(Code.Unauthenticated, reason, message);
}

const KEY_COLUMNS = sql.raw(`id, secret, create_time AS "createTime", retire_time AS "retireTime"`);

async function readKeys(client: SqlClient): Promise<Map<string, SigningKey>> {
  const rows = await client.all<{ id: string; secret: string; createTime: number; retireTime: number | null }>(
    sql`SELECT ${KEY_COLUMNS} FROM player_token_keys ORDER BY create_time, id`,
  );
  const keys = await Promise.all(
    rows.map(async (row): Promise<[string, SigningKey]> => {
      const bytes = Buffer.from(row.secret, "base64url");
      const secret = await webcrypto.subtle.importKey("raw", bytes, { name: "HMAC", hash: "SHA-256" }, false, [
        "sign",
        "verify",
      ]);
      return [row.id, { ...row, secret }];
    }),
  );
  return new Map(keys);
}

async function insertKey(tx: Transaction, now: number): Promise<string> {
  const id = randomUUID();
  await tx.run(sql`INSERT INTO player_token_keys (id, secret, create_time, retire_time)
    VALUES (${id}, ${randomBytes(32).toString("base64url")}, ${now}, NULL)`);
  await appendClusterChange(tx, "player_token_key", id, {}, now);
  return id;
}

/** The key that signs now: the newest one without a retire time. */
function signingKeyOf(keys: ReadonlyMap<string, SigningKey>): SigningKey | undefined {
  let newest: SigningKey | undefined;
  for (const key of keys.values()) {
    if (key.retireTime === null && (!newest || key.createTime >= newest.createTime)) newest = key;
  }
  return newest;
}

/**
 * Player tokens: HS256 JWTs (jose) signed with keys stored in the database, so that every instance mints and verifies
 * the same tokens. Rotation makes a new signing key and retires the previous one after an overlap; a token of a
 * retired key is refused. Keys are kept in memory and read again when any instance changes them (the cluster change
 * log) or a token names an unknown key.
 */
export function createPlayerTokens(storage: Storage) {
  let keys: Map<string, SigningKey> | undefined;
  let loading: Promise<Map<string, SigningKey>> | undefined;
  let generation = 0;
  let unknownReloadAt = Number.NEGATIVE_INFINITY;
  const verified = new Map<string, PlayerTokenClaims>();

  const load = (): Promise<Map<string, SigningKey>> => {
    if (keys) return Promise.resolve(keys);
    if (!loading) {
      const at = generation;
      loading = readKeys(storage.reads).then(
        (read) => {
          loading = undefined;
          // A change noticed while reading makes the next call read again.
          if (at === generation) keys = read;
          return read;
        },
        (err: unknown) => {
          loading = undefined;
          throw err;
        },
      );
    }
    return loading;
  };

  const keyFor = async (id: string | undefined, now: number): Promise<SigningKey> => {
    if (id === undefined) throw unauthenticated("PLAYER_TOKEN_INVALID", "the player token names no signing key");
    let key = (await load()).get(id);
    if (!key && now >= unknownReloadAt) {
      unknownReloadAt = now + UNKNOWN_KEY_RELOAD_MS;
      keysChanged();
      key = (await load()).get(id);
    }
    if (!key) throw unauthenticated("PLAYER_TOKEN_INVALID", "the player token's signing key is unknown");
    if (key.retireTime !== null && key.retireTime <= now) {
      throw unauthenticated("PLAYER_TOKEN_KEY_RETIRED", "the player token's signing key is retired; mint a new token");
    }
    return key;
  };

  function keysChanged() {
    generation++;
    keys = undefined;
  }

  return {
    /** Mints a token for `playerId` valid for `ttlMs` from `now`, with the current key (made if there is none). */
    async mint(playerId: string, ttlMs: number, now: number) {
      let key = signingKeyOf(await load());
      if (!key) {
        await storage.withTransaction(async (tx) => {
          await tx.lockName("player_token_keys", "exclusive");
          if (!signingKeyOf(await readKeys(tx))) await insertKey(tx, now);
        });
        keysChanged();
        key = signingKeyOf(await load());
        if (!key) throw new Error("no player token signing key after making one");
      }
      const expireTime = Math.floor((now + ttlMs) / 1000) * 1000;
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: "HS256", typ: "JWT", kid: key.id })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setSubject(playerId)
        .setIssuedAt(Math.floor(now / 1000))
        .setExpirationTime(expireTime / 1000)
        .sign(key.secret);
      return { token, expireTime, keyId: key.id };
    },

    /**
     * The claims of a token in effect at `now`; UNAUTHENTICATED when it is malformed, forged, signed with an unknown or
     * retired key, or expired.
     */
    async verify(token: string, now: number): Promise<PlayerTokenClaims> {
      const kept = verified.get(token);
      if (kept) {
        if (kept.expireTime <= now) throw unauthenticated("PLAYER_TOKEN_EXPIRED", "the player token has expired");
        await keyFor(kept.keyId, now);
        return kept;
      }
      let claims: PlayerTokenClaims | undefined;
      try {
        const { payload, protectedHeader } = await jwtVerify(
          token,
          (header) => keyFor(header.kid, now).then((key) => key.secret),
          {
            algorithms: ["HS256"],
            issuer: ISSUER,
            audience: AUDIENCE,
            currentDate: new Date(now),
            requiredClaims: ["sub", "exp"],
          },
        );
        claims = {
          playerId: payload.sub as string,
          expireTime: (payload.exp as number) * 1000,
          keyId: protectedHeader.kid as string,
        };
      } catch (err) {
        if (err instanceof joseErrors.JWTExpired)
          throw unauthenticated("PLAYER_TOKEN_EXPIRED", "the player token has expired");
        if (err instanceof joseErrors.JOSEError) {
          throw unauthenticated("PLAYER_TOKEN_INVALID", `the player token is not valid (${err.code})`);
        }
        throw err;
      }
      if (verified.size >= VERIFIED_KEPT) verified.clear();
      verified.set(token, claims);
      return claims;
    },

    /**
     * Starts signing with a new key; the previous signing key (and any other unretired one) retires at `now + overlapMs`.
     */
    async rotate(overlapMs: number, now: number, actor: AuditActor) {
      const result = await storage.withTransaction(async (tx) => {
        await tx.lockName("player_token_keys", "exclusive");
        const previous = signingKeyOf(await readKeys(tx));
        const retireTime = now + overlapMs;
        await tx.run(sql`UPDATE player_token_keys SET retire_time = ${retireTime}
          WHERE retire_time IS NULL OR retire_time > ${retireTime}`);
        const id = await insertKey(tx, now);
        await appendAuditEntry(
          tx,
          actor,
          now,
          { type: "player_token_key", id },
          {
            signing_key_id: { ...(previous ? { before: previous.id } : {}), after: id },
            ...(previous ? { previous_retire_time: { after: new Date(retireTime).toISOString() } } : {}),
          },
        );
        return { keyId: id, previousKeyId: previous?.id ?? "", previousRetireTime: previous ? retireTime : undefined };
      });
      keysChanged();
      return result;
    },

    /** Drops the keys kept in memory: another instance changed them (the cluster change log). */
    keysChanged,
  };
}

/** Mints and verifies player tokens. */
export type PlayerTokens = ReturnType<typeof createPlayerTokens>;
