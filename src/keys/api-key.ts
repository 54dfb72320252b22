import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * API keys look like `lo_<id>_<secret>`: a recognisable prefix (so scanners can find leaked keys), a public id
 * (16 hex characters, safe to log and to show in lists) and a secret of 32 random bytes in base64url. Only a
 * SHA-256 of the secret is stored.
 */
const KEY_FORMAT = /^lo_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** A key as the user receives it, with its public id. */
export interface NewApiKey {
  id: string;
  key: string;
  secretHash: string;
}

function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** Makes a new random key; with `id`, a new secret for that key (a rotation). */
export function generateApiKey(id = randomBytes(8).toString("hex")): NewApiKey {
  const secret = randomBytes(32).toString("base64url");
  return { id, key: `lo_${id}_${secret}`, secretHash: hashSecret(secret) };
}

/** The public id part of a key's format: 16 lowercase hex characters. */
export const KEY_ID_FORMAT = /^[0-9a-f]{16}$/;

/** The id and secret hash of a presented key, or undefined when it does not have the key format. */
export function parseApiKey(key: string): { id: string; secretHash: string } | undefined {
  const match = KEY_FORMAT.exec(key);
  if (!match?.[1] || !match[2]) return undefined;
  return { id: match[1], secretHash: hashSecret(match[2]) };
}

/** Compares two secret hashes in constant time. */
export function secretHashesEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === y.length && timingSafeEqual(x, y);
}
