import { isIPv6 } from "node:net";
import type pg from "pg";
import {
  BurstyRateLimiter,
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterPostgres,
  RateLimiterRes,
} from "rate-limiter-flexible";
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

/**
 * Per-key and per-address limits: in this process's memory, or — given a PostgreSQL pool — in the `rate_limits`
 * table that every instance on the database shares, so that a key's limit holds across the fleet.
 */
export interface RateLimits {
  /** Takes one request from the key's bucket; RESOURCE_EXHAUSTED with RetryInfo when it is empty. */
  consumeKey(keyId: string, role: Role, override: RateSetting | undefined): Promise<void>;
  /** Counts a failed key guess from `address`; RESOURCE_EXHAUSTED when that one was over the allowance. */
  recordFailure(address: string): Promise<void>;
}

interface Limiter {
  consume(key: string): Promise<RateLimiterRes>;
}

/** Makes a fixed window of `points` per `duration` seconds; `name` sets it apart from the other windows. */
type WindowFactory = (name: string, points: number, duration: number) => RateLimiterAbstract;

const memoryWindow: WindowFactory = (_name, points, duration) => new RateLimiterMemory({ points, duration });

/**
 * Windows in the `rate_limits` table (migrations 0002/0003 create it, UNLOGGED; the library must not), one key prefix
 * per window. Every window is insured by a window of its own in memory, which answers whenever the database does
 * not (unreachable, not migrated yet, timed out): a database hiccup makes limits per instance for a while, never
 * fails a call. Once a window is full its key is refused from memory until the window ends (`inMemoryBlockOnConsumed`
 * = points, without a block duration: until the row's own expiry), so a flood of one key costs no database writes;
 * that is exact because a full window only empties when it expires (nothing here gives points back).
 *
 * The library deletes long-expired rows (those expired an hour ago, every 5 minutes on an unref'd timer that does not
 * hold the process open) when `clearExpiredByTimeout` is on; its DELETE covers the whole table, so only the first
 * window made here sweeps. An expired row is harmless meanwhile: the upsert starts a new window over it.
 */
function sharedWindows(pool: pg.Pool): WindowFactory {
  let sweeps = true;
  return (name, points, duration) => {
    const window = new RateLimiterPostgres({
      storeClient: pool,
      storeType: "pool",
      tableName: "rate_limits",
      tableCreated: true,
      clearExpiredByTimeout: sweeps,
      keyPrefix: name,
      points,
      duration,
      inMemoryBlockOnConsumed: points,
      insuranceLimiter: new RateLimiterMemory({ points, duration }),
    });
    sweeps = false;
    return window;
  };
}

/**
 * A token bucket of `perSecond` sustained with bursts up to `burst`, built from the library's bursty limiter: a
 * one-second window of `perSecond` requests, backed by a pool of `burst - perSecond` more that refills over the
 * time the sustained rate takes to earn them.
 */
function bucket({ perSecond, burst }: RateSetting, window: WindowFactory): Limiter {
  const name = `key:${perSecond}/${burst}`;
  const steady = window(`${name}:steady`, perSecond, 1);
  if (burst <= perSecond) return steady;
  const extra = burst - perSecond;
  return new BurstyRateLimiter(steady, window(`${name}:burst`, extra, Math.max(1, Math.ceil(extra / perSecond))));
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

/**
 * Creates the limiters of `config`: in memory (one process, e.g. SQLite), or in `store`'s `rate_limits` table, shared
 * by every instance on that PostgreSQL database. A shared limit costs one upsert per call, on the pool the storage
 * uses (measured: ~0.1 ms, ~70 µs of this process's CPU and ~95 µs of the server's); a refused call costs none once
 * this process has seen its window full.
 */
export function createRateLimits(config: RateLimitConfig, store?: pg.Pool): RateLimits {
  const window = store ? sharedWindows(store) : memoryWindow;
  // First, so that it is the shared window that sweeps expired rows (see sharedWindows).
  const { authFailures } = config;
  const failures = window(
    `auth-failures:${authFailures.perSecond}/${authFailures.burst}`,
    authFailures.burst,
    Math.max(1, Math.ceil(authFailures.burst / authFailures.perSecond)),
  );
  // One limiter per distinct (rate, burst): keys with the same limit share it, each with its own bucket.
  const limiters = new Map<string, Limiter>();
  const limiterFor = (limit: RateSetting) => {
    const name = `${limit.perSecond}/${limit.burst}`;
    let limiter = limiters.get(name);
    if (!limiter) {
      limiter = bucket(limit, window);
      limiters.set(name, limiter);
    }
    return limiter;
  };
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
