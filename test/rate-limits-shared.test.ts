import { durationMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import pg from "pg";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RetryInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { createRateLimits, type RateLimitConfig, type RateLimits } from "../src/auth/rate-limits.js";
import { clientConfig } from "../src/db/postgres-connection.js";
import { migratePostgres } from "../src/db/postgres-migrations.js";
import { reasonOf } from "../src/errors.js";
import { createTestDatabase, skipWithoutPostgres, type TestDatabase } from "./support/postgres.js";
import { createPostgresProxy } from "./support/postgres-proxy.js";
import { testBackend } from "./support/server.js";

// Rate limits kept in PostgreSQL's rate_limits table, as several liveops processes on one database keep them: each
// "instance" here is a createRateLimits over a pool of its own.

const five = { perSecond: 5, burst: 5 };
const config: RateLimitConfig = {
  roleDefaults: { viewer: five, game_server: five, operator: five, admin: five, player: five },
  authFailures: { perSecond: 1, burst: 3 },
};

let database: TestDatabase;
const pools: pg.Pool[] = [];

function poolOf(url: string): pg.Pool {
  const pool = new pg.Pool({ ...clientConfig({ url }), max: 2, connectionTimeoutMillis: 1000 });
  pool.on("error", () => undefined);
  pools.push(pool);
  return pool;
}

/** An instance's limits, on the shared database. */
const instance = (): RateLimits => createRateLimits(config, poolOf(database.url));

let keyCount = 0;
/** A key id no other test uses (buckets outlive a test: they are rows of the shared table). */
const newKey = () => `key${++keyCount}`;

/** The error `call` failed with, or undefined when it succeeded. */
async function errorOf(call: Promise<unknown>): Promise<ConnectError | undefined> {
  return call.then(
    () => undefined,
    (err: unknown) => ConnectError.from(err),
  );
}

function expectRefused(err: ConnectError | undefined, reason: string): void {
  expect(err?.code).toBe(Code.ResourceExhausted);
  expect(err && reasonOf(err)).toBe(reason);
  const retry = err?.findDetails(RetryInfoSchema)[0]?.retryDelay;
  expect(retry && durationMs(retry)).toBeGreaterThan(0);
}

/** A URL where nothing listens: a proxy that is down. */
async function closedPortUrl(): Promise<string> {
  return (await createPostgresProxy("postgres://postgres:secret@127.0.0.1:1/nothing")).url;
}

describe.skipIf(testBackend !== "postgres" || skipWithoutPostgres("the shared rate limit tests"))(
  "rate limits shared through PostgreSQL",
  () => {
    beforeAll(async () => {
      database = await createTestDatabase();
      await migratePostgres(database.url, pino({ level: "silent" }));
    });
    afterAll(async () => {
      await Promise.all(pools.map((pool) => pool.end().catch(() => undefined)));
      await database?.drop();
    });

    it("a key's bucket is one across instances: the calls of both count, and either refuses past the limit", async () => {
      const [a, b] = [instance(), instance()];
      const key = newKey();
      for (const limits of [a, b, a, b, a]) await limits.consumeKey(key, "viewer", undefined);
      expectRefused(await errorOf(a.consumeKey(key, "viewer", undefined)), "RATE_LIMITED");
      expectRefused(await errorOf(b.consumeKey(key, "viewer", undefined)), "RATE_LIMITED");
      // Another key has a bucket of its own.
      await b.consumeKey(newKey(), "viewer", undefined);
    });

    it("the burst above the sustained rate is shared too", async () => {
      const [a, b] = [instance(), instance()];
      const key = newKey();
      const roomy = { perSecond: 1, burst: 4 };
      for (const limits of [a, b, b, a]) await limits.consumeKey(key, "viewer", roomy);
      expectRefused(await errorOf(b.consumeKey(key, "viewer", roomy)), "RATE_LIMITED");
      expectRefused(await errorOf(a.consumeKey(key, "viewer", roomy)), "RATE_LIMITED");
    });

    it("an address's failed guesses count across instances, an IPv6 address by its /64", async () => {
      const [a, b] = [instance(), instance()];
      await a.recordFailure("2001:db8:1:2::1");
      await b.recordFailure("2001:db8:1:2::2");
      await a.recordFailure("2001:db8:1:2:ffff::3");
      expectRefused(await errorOf(b.recordFailure("2001:db8:1:2::4")), "AUTH_FAILURES_RATE_LIMITED");
      // Another address is not affected.
      await b.recordFailure("192.0.2.1");
    });

    it("a key refused once its bucket is full is refused from memory: a flood of it writes nothing", async () => {
      const limits = instance();
      const key = newKey();
      for (let i = 0; i < 5; i++) await limits.consumeKey(key, "viewer", undefined);
      const refused = await Promise.all(
        Array.from({ length: 20 }, () => errorOf(limits.consumeKey(key, "viewer", undefined))),
      );
      expect(refused.every((err) => err?.code === Code.ResourceExhausted)).toBe(true);
      const check = poolOf(database.url);
      const { rows } = await check.query<{ points: number }>("SELECT points FROM rate_limits WHERE key = $1", [
        `key:5/5:steady:${key}`,
      ]);
      expect(rows).toEqual([{ points: 5 }]);
    });

    it("without a reachable database, each instance limits on its own rather than failing the call", async () => {
      const unreachable = createRateLimits(config, poolOf(await closedPortUrl()));
      const ended = poolOf(database.url);
      await ended.end();
      for (const limits of [unreachable, createRateLimits(config, ended)]) {
        const key = newKey();
        const start = Date.now();
        for (let i = 0; i < 5; i++) await limits.consumeKey(key, "viewer", undefined);
        expectRefused(await errorOf(limits.consumeKey(key, "viewer", undefined)), "RATE_LIMITED");
        await limits.recordFailure("192.0.2.7");
        expect(Date.now() - start).toBeLessThan(1000);
      }
    });

    it("before the database is migrated, the limits are kept in memory", async () => {
      const fresh = await createTestDatabase();
      try {
        const limits = createRateLimits(config, poolOf(fresh.url));
        const key = newKey();
        for (let i = 0; i < 5; i++) await limits.consumeKey(key, "viewer", undefined);
        expectRefused(await errorOf(limits.consumeKey(key, "viewer", undefined)), "RATE_LIMITED");
      } finally {
        await fresh.drop();
      }
    });
  },
);
