import { isIPv6 } from "node:net";
import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";
import { rateLimited } from "../errors.js";
import type { Role } from "./roles.js";

/** A token bucket: a sustained rate per second and the burst it may reach. */
export interface RateSetting {
  perSecond: number;
  burst: number;
}

/** Rate limits: per-role defaults for keys, and the allowance of failed key guesses per client address. */
export interface RateLimitConfig {
  roleDefaults: Record<Role, RateSetting>;
  authFailures: RateSetting;
}

/** Per-key and per-address limits, in memory; rate-limiter-flexible's store limiters can replace it for a fleet. */
export interface RateLimits {
  /** Takes one request from the key's bucket; RESOURCE_EXHAUSTED with RetryInfo when it is empty. */
  consumeKey(keyId: string, role: Role, override: RateSetting | undefined): Promise<void>;
  /** Counts a failed key guess from `address`; RESOURCE_EXHAUSTED when that one was over the allowance. */
  recordFailure(address: string): Promise<void>;
}

interface Limiter {
  consume(key: string): Promise<RateLimiterRes>;
}

/**
 * A token bucket of `perSecond` sustained with bursts up to `burst`, built from the library's bursty limiter: a
 * one-second window of `perSecond` requests, backed by a pool of `burst - perSecond` more that refills over the
 * time the sustained rate takes to earn them.
 */
function bucket({ perSecond, burst }: RateSetting): Limiter {
  const steady = new RateLimiterMemory({ points: perSecond, duration: 1 });
  if (burst <= perSecond) return steady;
  const extra = burst - perSecond;
  return new BurstyRateLimiter(
    steady,
    new RateLimiterMemory({ points: extra, duration: Math.max(1, Math.ceil(extra / perSecond)) }),
  );
}

async function consumeOr(limiter: Limiter, key: string, refuse: (retryAfterMs: number) => Error): Promise<void> {
  try {
    await limiter.consume(key);
  } catch (res) {
    if (res instanceof RateLimiterRes) throw refuse(res.msBeforeNext);
    throw res;
  }
}

/**
 * The bucket of failed guesses an address counts in: an IPv4 address on its own, an IPv6 address by its /64
 * (one subscriber's network, whose 2^64 addresses would otherwise be 2^64 allowances).
 */
export function failureBucketOf(address: string): string {
  if (isIPv6(address)) {
    const groups = expandIPv6(address);
    if (groups) return `${groups.slice(0, 4).join(":")}::/64`;
  }
  return address;
}

/** The eight 16-bit groups of an IPv6 address, or undefined for a form this does not expand (embedded IPv4). */
function expandIPv6(address: string): string[] | undefined {
  if (address.includes(".")) return undefined;
  const [head = "", tail] = address.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const missing = 8 - left.length - right.length;
  if (missing < 0 || (tail === undefined && missing !== 0)) return undefined;
  return [...left, ...Array<string>(missing).fill("0"), ...right].map((g) => g.toLowerCase().replace(/^0+(?=.)/, ""));
}

/** Creates the limiters of `config`. */
export function createRateLimits(config: RateLimitConfig): RateLimits {
  // One limiter per distinct (rate, burst): keys with the same limit share it, each with its own bucket.
  const limiters = new Map<string, Limiter>();
  const limiterFor = (limit: RateSetting) => {
    const name = `${limit.perSecond}/${limit.burst}`;
    let limiter = limiters.get(name);
    if (!limiter) {
      limiter = bucket(limit);
      limiters.set(name, limiter);
    }
    return limiter;
  };
  const failures = new RateLimiterMemory({
    points: config.authFailures.burst,
    duration: Math.max(1, Math.ceil(config.authFailures.burst / config.authFailures.perSecond)),
  });
  const tooManyFailures = (retryAfterMs: number) =>
    rateLimited("AUTH_FAILURES_RATE_LIMITED", "too many unknown API keys from this address; retry later", retryAfterMs);

  return {
    consumeKey(keyId, role, override) {
      return consumeOr(limiterFor(override ?? config.roleDefaults[role]), keyId, (retryAfterMs) =>
        rateLimited("RATE_LIMITED", "this API key is over its rate limit; retry later", retryAfterMs),
      );
    },
    recordFailure(address) {
      return consumeOr(failures, failureBucketOf(address), tooManyFailures);
    },
  };
}
