import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";
import { rateLimited } from "../errors.js";
import type { Role } from "./roles.js";

/** A token bucket: a sustained rate per second and the burst it may reach. */
export interface RateSetting {
  perSecond: number;
  burst: number;
}

/** Rate limits: per-role defaults for keys, and the allowance of failed authentications per client address. */
export interface RateLimitConfig {
  roleDefaults: Record<Role, RateSetting>;
  authFailures: RateSetting;
}

/** Per-key and per-address limits, in memory; rate-limiter-flexible's store limiters can replace it for a fleet. */
export interface RateLimits {
  /** Takes one request from the key's bucket; RESOURCE_EXHAUSTED with RetryInfo when it is empty. */
  consumeKey(keyId: string, role: Role, override: RateSetting | undefined): Promise<void>;
  /** RESOURCE_EXHAUSTED when the address has used up its failed authentications. */
  checkAddress(address: string): Promise<void>;
  /** Counts a failed authentication from `address`; RESOURCE_EXHAUSTED when that one was over the allowance. */
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
    rateLimited(
      "AUTH_FAILURES_RATE_LIMITED",
      "too many failed authentications from this address; retry later",
      retryAfterMs,
    );

  return {
    consumeKey(keyId, role, override) {
      return consumeOr(limiterFor(override ?? config.roleDefaults[role]), keyId, (retryAfterMs) =>
        rateLimited("RATE_LIMITED", "this API key is over its rate limit; retry later", retryAfterMs),
      );
    },
    async checkAddress(address) {
      const state = await failures.get(address);
      if (state && state.remainingPoints <= 0) throw tooManyFailures(state.msBeforeNext);
    },
    recordFailure(address) {
      return consumeOr(failures, address, tooManyFailures);
    },
  };
}
