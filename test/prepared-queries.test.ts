import { sql } from "drizzle-orm";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPostgresStorage } from "../src/db/postgres-storage.js";
import { openSqliteStorage } from "../src/db/sqlite-storage.js";
import type { Storage } from "../src/db/storage.js";
import { createTestDatabase, type TestDatabase } from "./support/postgres.js";
import { testBackend } from "./support/server.js";

// A query written once with sql.placeholder() runs with each call's values (rendered once per backend), on the
// run's backend, outside and inside a unit of work.
const DOUBLED = sql`SELECT CAST(${sql.placeholder("n")} AS INTEGER) * 2 AS doubled`;

let storage: Storage;
let database: TestDatabase | undefined;

beforeAll(async () => {
  if (testBackend === "sqlite") {
    storage = openSqliteStorage(":memory:");
    return;
  }
  database = await createTestDatabase();
  storage = await openPostgresStorage({
    url: database.url,
    poolSize: 2,
    connectTimeoutMs: 5_000,
    statementTimeoutMs: 5_000,
    logger: pino({ level: "silent" }),
  });
  await storage.migrated();
});
afterAll(async () => {
  await storage.close();
  await database?.drop();
});

describe("prepared queries", () => {
  it("run with each call's values", async () => {
    const rows = await Promise.all([1, 2, 3].map((n) => storage.reads.get<{ doubled: number }>(DOUBLED, { n })));
    expect(rows.map((row) => Number(row?.doubled))).toEqual([2, 4, 6]);
  });

  it("run with each call's values inside a unit of work", async () => {
    const doubled = await storage.withTransaction(async (tx) => [
      await tx.get<{ doubled: number }>(DOUBLED, { n: 5 }),
      await tx.all<{ doubled: number }>(DOUBLED, { n: 7 }),
    ]);
    expect(doubled.flat().map((row) => Number(row?.doubled))).toEqual([10, 14]);
  });

  it("refuse a call without a placeholder's value", async () => {
    await expect(storage.reads.get(DOUBLED, {})).rejects.toThrow(/placeholder "n"/);
  });
});
