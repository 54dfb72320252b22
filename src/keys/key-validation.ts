import type { FieldViolation } from "../errors.js";
import type { KeyRateLimit } from "./key-store.js";

export const KEY_NAME_MAX = 100;
export const RATE_PER_SECOND_MAX = 100_000;
export const RATE_BURST_MAX = 1_000_000;
/** The longest grace period of a rotation. */
export const ROTATION_GRACE_MAX_MS = 30 * 86_400_000;

/** Violations of a key name. */
export function checkKeyName(name: string, field: string): FieldViolation[] {
  if (name.trim() === "") return [{ field, description: "is required", reason: "REQUIRED" }];
  if ([...name].length > KEY_NAME_MAX) {
    return [{ field, description: `must be at most ${KEY_NAME_MAX} characters`, reason: "TOO_LONG" }];
  }
  return [];
}

/** Violations of a key's own rate limit. */
export function checkRateLimit(limit: KeyRateLimit, field: string): FieldViolation[] {
  const violations: FieldViolation[] = [];
  if (!Number.isInteger(limit.perSecond) || limit.perSecond < 1 || limit.perSecond > RATE_PER_SECOND_MAX) {
    violations.push({
      field: `${field}.requests_per_second`,
      description: `must be from 1 to ${RATE_PER_SECOND_MAX}`,
      reason: "OUT_OF_RANGE",
    });
  } else if (!Number.isInteger(limit.burst) || limit.burst < limit.perSecond || limit.burst > RATE_BURST_MAX) {
    violations.push({
      field: `${field}.burst`,
      description: `must be from requests_per_second to ${RATE_BURST_MAX}`,
      reason: "OUT_OF_RANGE",
    });
  }
  return violations;
}

/** Violations of an expiry time, which must lie in the future. */
export function checkExpireTime(expireTime: number | undefined, now: number, field: string): FieldViolation[] {
  if (expireTime !== undefined && expireTime <= now) {
    return [{ field, description: "must be in the future", reason: "IN_THE_PAST" }];
  }
  return [];
}
