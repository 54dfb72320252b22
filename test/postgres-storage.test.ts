import { readFileSync } from "node:fs";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { migrationsFolder } from "../src/db/migrations-folder.js";
import { migratePostgres } from "../src/db/postgres-migrations.js";
import { openPostgresStorage, type PostgresStorageOptions } from "../src/db/postgres-storage.js";
import type { Storage } from "../src/db/storage.js";
import { StorageTimeoutError, StorageUnavailableError } from "../src/db/storage-errors.js";
import { createTestDatabase, skipWithoutPostgres, type TestDatabase } from "./support/postgres.js";
import { createPostgresProxy, type PostgresProxy } from "./support/postgres-proxy.js";

const proxies: PostgresProxy[] = [];

/** A proxy, up, in front of `database`: the database can be taken away (`down`) and brought back (`up`). */
async function proxyBefore(database: TestDatabase): Promise<PostgresProxy> {
  const proxy = await createPostgresProxy(database.url);
  proxies.push(proxy);
  await proxy.up();
  return proxy;
}
const databases: TestDatabase[] = [];

async function createDatabase(): Promise<TestDatabase> {
  const database = await createTestDatabase();
  databases.push(database);
  return database;
}

function captureLogs() {
  const lines: { level: number; msg: string }[] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

const opened: Storage[] = [];

async function open(url: string, options: Partial<PostgresStorageOptions> = {}): Promise<Storage> {
  const storage = await openPostgresStorage({
    url,
    poolSize: 5,
    connectTimeoutMs: 1000,
    statementTimeoutMs: 5000,
    logger: captureLogs().logger,
    ...options,
  });
  opened.push(storage);
  return storage;
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<number> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`not true within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return Date.now() - start;
}

async function openReady(options: Partial<PostgresStorageOptions> = {}): Promise<Storage> {
  const storage = await open((await createDatabase()).url, options);
  await until(() => storage.isReady());
  return storage;
}

afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
  await Promise.all(proxies.map((proxy) => proxy.down()));
  await Promise.all(databases.map((d) => d.drop()));
});

/** A URL where nothing listens (yet): a proxy that is down. */
async function closedPortUrl(): Promise<string> {
  return (await createPostgresProxy("postgres://postgres:secret@127.0.0.1:1/nothing")).url;
}

describe.skipIf(skipWithoutPostgres("the PostgreSQL storage tests"))("PostgreSQL storage", () => {
  it("two servers starting together on a fresh database migrate it exactly once", async () => {
    const { url } = await createDatabase();
    const logs = [captureLogs(), captureLogs()];
    const [a, b] = await Promise.all(logs.map(({ logger }) => open(url, { logger })));
    await until(() => Boolean(a?.isReady() && b?.isReady()));
    const journal = JSON.parse(readFileSync(join(migrationsFolder("postgres"), "meta", "_journal.json"), "utf8"));
    const row = await a?.reads.get<{ n: number }>(sql`SELECT count(*) AS n FROM drizzle.__drizzle_migrations`);
    expect(row?.n).toBe(journal.entries.length);
    const applied = logs.flatMap(({ lines }) => lines.filter((l) => l.msg === "database migrations applied"));
    expect(applied).toHaveLength(1);
    // Without the lock the loser fails on a table the winner created, and logs it.
    expect(logs.flatMap(({ lines }) => lines.filter((l) => l.level >= 40))).toEqual([]);
  });

  it("reads int8 and numeric results as numbers, and refuses an int8 beyond the safe integers", async () => {
    const storage = await openReady();
    const row = await storage.reads.get<{ big: unknown; n: unknown; total: unknown }>(
      sql`SELECT ${Number.MAX_SAFE_INTEGER}::bigint AS big, count(*) AS n, sum(x::bigint) AS total
          FROM generate_series(1, 3) AS x`,
    );
    expect(row).toEqual({ big: Number.MAX_SAFE_INTEGER, n: 3, total: 6 });
    await expect(storage.reads.get(sql`SELECT 9007199254740993::bigint AS big`)).rejects.toThrow(RangeError);
    expect(await storage.reads.get(sql`SELECT 1 AS still_works`)).toEqual({ still_works: 1 });
  });

  it("commits a unit of work and rolls back one that throws", async () => {
    const storage = await openReady();
    await storage.reads.run(sql`CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL)`);
    const committed: number[] = [];
    const changed = await storage.withTransaction((tx) => tx.run(sql`INSERT INTO items VALUES (${1}, ${"kept"})`), {
      committed: (count) => committed.push(count),
    });
    expect(changed).toBe(1);
    expect(committed).toEqual([1]);
    const failure = new Error("the work failed");
    await expect(
      storage.withTransaction(
        async (tx) => {
          await tx.run(sql`INSERT INTO items VALUES (${2}, ${"lost"})`);
          throw failure;
        },
        { committed: () => committed.push(-1) },
      ),
    ).rejects.toBe(failure);
    expect(committed).toEqual([1]);
    expect(await storage.reads.all(sql`SELECT id, name FROM items ORDER BY id`)).toEqual([{ id: 1, name: "kept" }]);
  });

  it("does not run a unit of work whose caller has already gone", async () => {
    const storage = await openReady();
    const controller = new AbortController();
    controller.abort(new Error("the caller left"));
    let ran = false;
    await expect(
      storage.withTransaction(
        async () => {
          ran = true;
        },
        { signal: controller.signal },
      ),
    ).rejects.toThrow("the caller left");
    expect(ran).toBe(false);
  });

  it("runs the units that lock the change log one at a time, their committed callbacks in commit order", async () => {
    const storage = await openReady();
    await storage.reads.run(sql`CREATE TABLE changes (seq bigint PRIMARY KEY)`);
    let inside = 0;
    let mostInside = 0;
    const order: number[] = [];
    const append = () =>
      storage.withTransaction(
        async (tx) => {
          await tx.lockChangeLog();
          mostInside = Math.max(mostInside, ++inside);
          const row = await tx.get<{ last: number }>(sql`SELECT coalesce(max(seq), 0) AS last FROM changes`);
          await new Promise((resolve) => setTimeout(resolve, 20));
          const seq = (row?.last ?? 0) + 1;
          await tx.run(sql`INSERT INTO changes VALUES (${seq})`);
          inside--;
          return seq;
        },
        { committed: (seq) => order.push(seq) },
      );
    const seqs = await Promise.all(Array.from({ length: 8 }, append));
    expect([...seqs].sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(order).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(mostInside).toBe(1);
  });

  it("runs a unit of work again when the database breaks a deadlock with it", async () => {
    const storage = await openReady();
    await storage.reads.run(sql`CREATE TABLE accounts (id bigint PRIMARY KEY, balance bigint NOT NULL)`);
    await storage.reads.run(sql`INSERT INTO accounts VALUES (1, 0), (2, 0)`);
    let bothLocked: () => void = () => {};
    const barrier = new Promise<void>((resolve) => {
      let waiting = 2;
      bothLocked = () => {
        if (--waiting === 0) resolve();
      };
    });
    let runs = 0;
    const transfer = (first: number, second: number) =>
      storage.withTransaction(async (tx) => {
        runs++;
        await tx.run(sql`UPDATE accounts SET balance = balance + 1 WHERE id = ${first}`);
        bothLocked();
        await barrier;
        await tx.run(sql`UPDATE accounts SET balance = balance + 1 WHERE id = ${second}`);
      });
    await Promise.all([transfer(1, 2), transfer(2, 1)]);
    expect(runs).toBe(3);
    expect(await storage.reads.all(sql`SELECT balance FROM accounts ORDER BY id`)).toEqual([
      { balance: 2 },
      { balance: 2 },
    ]);
  });

  it("fails a statement that runs past the statement timeout with StorageTimeoutError", async () => {
    const storage = await openReady({ statementTimeoutMs: 200 });
    const start = Date.now();
    await expect(storage.reads.get(sql`SELECT pg_sleep(5)`)).rejects.toBeInstanceOf(StorageTimeoutError);
    await expect(storage.withTransaction((tx) => tx.get(sql`SELECT pg_sleep(5)`))).rejects.toBeInstanceOf(
      StorageTimeoutError,
    );
    expect(Date.now() - start).toBeLessThan(2000);
    expect(await storage.reads.get(sql`SELECT 1 AS fine`)).toEqual({ fine: 1 });
    expect(storage.isReady()).toBe(true);
  });

  it("starts without a database: not ready, every call unavailable at once, and no throw", async () => {
    const { logger, lines } = captureLogs();
    const storage = await open(await closedPortUrl(), { logger });
    const start = Date.now();
    await expect(storage.reads.get(sql`SELECT 1`)).rejects.toBeInstanceOf(StorageUnavailableError);
    await expect(storage.withTransaction(async () => 1)).rejects.toThrow("the database is not reachable yet");
    expect(Date.now() - start).toBeLessThan(200);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(storage.isReady()).toBe(false);
    expect(lines.filter((l) => l.level === 40 && l.msg.startsWith("the database is not reachable"))).toHaveLength(1);
    await storage.close();
  });

  it("closes after the units of work in flight, and refuses new ones", async () => {
    const storage = await openReady();
    const unit = storage.withTransaction((tx) => tx.get<{ slept: string }>(sql`SELECT pg_sleep(0.3)::text AS slept`));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await storage.close();
    expect(await unit).toEqual({ slept: "" });
    expect(storage.isReady()).toBe(false);
    await expect(storage.withTransaction(async () => 1)).rejects.toThrow("the storage is closed");
  });

  it("migrating a database that cannot be reached fails with the connection's error", async () => {
    await expect(migratePostgres(await closedPortUrl(), captureLogs().logger)).rejects.toMatchObject({
      code: "ECONNREFUSED",
    });
  });
});

describe.skipIf(skipWithoutPostgres("the PostgreSQL storage tests"))(
  "PostgreSQL storage when the database goes away",
  () => {
    it("becomes ready once a database that was down at start comes up, and migrates it", async () => {
      const outage = await proxyBefore(await createDatabase());
      await outage.down();
      const storage = await open(outage.url);
      await expect(storage.reads.get(sql`SELECT 1`)).rejects.toBeInstanceOf(StorageUnavailableError);
      await new Promise((resolve) => setTimeout(resolve, 1200));
      expect(storage.isReady()).toBe(false);
      await outage.up();
      const waited = await until(() => storage.isReady());
      expect(waited).toBeLessThan(2500);
      const row = await storage.reads.get<{ n: number }>(sql`SELECT count(*) AS n FROM drizzle.__drizzle_migrations`);
      expect(row?.n).toBeGreaterThan(0);
      await outage.down();
    });

    it("says unavailable and not ready while the database is away, and ready again when it returns", async () => {
      const outage = await proxyBefore(await createDatabase());
      const storage = await open(outage.url);
      await until(() => storage.isReady());
      await outage.down();
      const start = Date.now();
      await expect(storage.reads.get(sql`SELECT 1`)).rejects.toBeInstanceOf(StorageUnavailableError);
      await expect(storage.withTransaction((tx) => tx.get(sql`SELECT 1`))).rejects.toBeInstanceOf(
        StorageUnavailableError,
      );
      expect(Date.now() - start).toBeLessThan(500);
      await until(() => !storage.isReady(), 2000);
      await outage.up();
      const waited = await until(() => storage.isReady());
      expect(waited).toBeLessThan(2500);
      expect(await storage.reads.get(sql`SELECT 2 AS back`)).toEqual({ back: 2 });
      await outage.down();
    });
  },
);
