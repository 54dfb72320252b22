import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import Sqlite from "better-sqlite3";
import type { Config } from "drizzle-kit";
import { is } from "drizzle-orm";
import { drizzle } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import { drizzle as drizzlePg } from "drizzle-orm/node-postgres";
import { migrate as migratePg } from "drizzle-orm/node-postgres/migrator";
import { PgTable, getTableConfig as pgTableConfig } from "drizzle-orm/pg-core";
import { SQLiteTable, getTableConfig as sqliteTableConfig } from "drizzle-orm/sqlite-core";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import sqliteConfig from "../drizzle.config.js";
import postgresConfig from "../drizzle-postgres.config.js";
import * as postgresSchema from "../src/db/postgres-schema.js";
import * as sqliteSchema from "../src/db/schema.js";
import { openSqliteStorage } from "../src/db/sqlite-storage.js";
import { createTestDatabase, skipWithoutPostgres, type TestDatabase } from "./support/postgres.js";

const dir = mkdtempSync(join(tmpdir(), "liveops-migrations-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A copy of drizzle/sqlite/ holding only the migrations up to `tag`: a database as an earlier release left it. */
function migrationsUpTo(tag: string): string {
  const folder = join(dir, `drizzle-${tag}`);
  cpSync("drizzle/sqlite", folder, { recursive: true });
  const journalPath = join(folder, "meta", "_journal.json");
  const journal = JSON.parse(readFileSync(journalPath, "utf8")) as { entries: { tag: string }[] };
  const last = journal.entries.findIndex((e) => e.tag === tag);
  journal.entries = journal.entries.slice(0, last + 1);
  writeFileSync(journalPath, JSON.stringify(journal));
  return folder;
}

describe("migrations", () => {
  it("give every event stored before recurring events its one run, boundaries already passed counted as announced", async () => {
    const path = join(dir, "old.db");
    const old = new Sqlite(path);
    migrate(drizzle(old), { migrationsFolder: migrationsUpTo("0002_audit_append_only") });
    const insert = old.prepare(
      "INSERT INTO events (id, title, description, start_time, end_time, rewards, version, create_time, update_time) VALUES (?, ?, '', ?, ?, '[]', 1, 0, 0)",
    );
    const now = Date.now();
    insert.run("00000000-0000-4000-8000-000000000001", "past", now - 20_000, now - 10_000);
    insert.run("00000000-0000-4000-8000-000000000002", "live", now - 10_000, now + 3_600_000);
    insert.run("00000000-0000-4000-8000-000000000003", "upcoming", now + 3_600_000, now + 7_200_000);
    old.close();

    const storage = openSqliteStorage(path);
    const runs = storage.sqlite
      .prepare(
        "SELECT event_id, run_number, start_time, end_time, start_announced, end_announced FROM event_runs ORDER BY event_id",
      )
      .all();
    await storage.close();
    expect(runs).toEqual([
      {
        event_id: "00000000-0000-4000-8000-000000000001",
        run_number: 1,
        start_time: now - 20_000,
        end_time: now - 10_000,
        start_announced: 1,
        end_announced: 1,
      },
      {
        event_id: "00000000-0000-4000-8000-000000000002",
        run_number: 1,
        start_time: now - 10_000,
        end_time: now + 3_600_000,
        start_announced: 1,
        end_announced: 0,
      },
      {
        event_id: "00000000-0000-4000-8000-000000000003",
        run_number: 1,
        start_time: now + 3_600_000,
        end_time: now + 7_200_000,
        start_announced: 0,
        end_announced: 0,
      },
    ]);
  });

  it("count the players already in each run when runs gain their participants column", () => {
    const path = join(dir, "participants.db");
    const old = new Sqlite(path);
    migrate(drizzle(old), { migrationsFolder: migrationsUpTo("0004_competition") });
    old
      .prepare(
        "INSERT INTO events (id, title, description, start_time, end_time, rewards, version, create_time, update_time) VALUES ('e', 'e', '', 0, 10, '[]', 1, 0, 0)",
      )
      .run();
    const run = old.prepare(
      "INSERT INTO event_runs (event_id, run_number, start_time, end_time, start_announced, end_announced) VALUES ('e', ?, 0, 10, 1, 1)",
    );
    for (const n of [1, 2, 3]) run.run(n);
    const entry = old.prepare(
      "INSERT INTO scores (event_id, run_number, player_id, score, join_time) VALUES ('e', ?, ?, ?, 0)",
    );
    entry.run(1, "p1", 10);
    entry.run(1, "p2", null); // joined, never scored: still a participant
    entry.run(2, "p1", 5);
    migrate(drizzle(old), { migrationsFolder: "drizzle/sqlite" });
    expect(old.prepare("SELECT run_number, participants FROM event_runs ORDER BY run_number").all()).toEqual([
      { run_number: 1, participants: 2 },
      { run_number: 2, participants: 1 },
      { run_number: 3, participants: 0 },
    ]);
    old.close();
  });
});

/** The files under `root`, by path relative to it. */
function filesUnder(root: string): string[] {
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)))
    .sort();
}

/** Runs drizzle-kit generate for `config` into a copy of its migrations folder: the files it adds. */
function migrationsMissingFrom(config: Config): string[] {
  if (!config.out || typeof config.schema !== "string") throw new Error("a drizzle config names its out and schema");
  const out = join(dir, `fresh-${config.dialect}`);
  cpSync(config.out, out, { recursive: true });
  const before = new Set(filesUnder(out));
  execFileSync(
    join("node_modules", ".bin", "drizzle-kit"),
    // drizzle-kit reads --out as relative to the working directory. A rename would make it ask: stdin is not a
    // terminal, so it fails instead, and the timeout covers a prompt that waits anyway.
    ["generate", "--dialect", config.dialect, "--schema", config.schema, "--out", relative(process.cwd(), out)],
    { stdio: "pipe", timeout: 60_000 },
  );
  return filesUnder(out).filter((file) => !before.has(file));
}

/** The tables of src/db/postgres-schema.ts (it also declares a sequence). */
function pgTables(): PgTable[] {
  return (Object.values(postgresSchema) as unknown[]).filter((value): value is PgTable => is(value, PgTable));
}

/** Each table's columns and indexes, by name, as a schema module declares them. */
function shapeOf(tables: string[][]): Record<string, string[]> {
  return Object.fromEntries(tables.map(([name, ...parts]) => [name as string, parts.sort()]));
}

describe("the two schemas", () => {
  it("drizzle/sqlite/ holds a migration for every change to src/db/schema.ts", () => {
    expect(migrationsMissingFrom(sqliteConfig), "schema changed without a migration: run npm run generate").toEqual([]);
  });

  it("drizzle/postgres/ holds a migration for every change to src/db/postgres-schema.ts", () => {
    expect(migrationsMissingFrom(postgresConfig), "schema changed without a migration: run npm run generate").toEqual(
      [],
    );
  });

  it("declare the same tables, columns and indexes on SQLite and PostgreSQL", () => {
    const sqlite = Object.values(sqliteSchema)
      .filter((table) => is(table, SQLiteTable))
      .map((table) => {
        const t = sqliteTableConfig(table);
        return [t.name, ...t.columns.map((c) => c.name), ...t.indexes.map((i) => `index ${i.config.name}`)];
      });
    const postgres = pgTables()
      .filter((table) => !postgresSchema.postgresOnlyTables.includes(pgTableConfig(table).name))
      .map((table) => {
        const t = pgTableConfig(table);
        return [t.name, ...t.columns.map((c) => c.name), ...t.indexes.map((i) => `index ${i.config.name}`)];
      });
    expect(shapeOf(postgres)).toEqual(shapeOf(sqlite));
  });
});

describe.skipIf(skipWithoutPostgres("the PostgreSQL migration tests"))(
  "the PostgreSQL migrations, on a real server",
  () => {
    let database: TestDatabase | undefined;
    let client: pg.Client;

    beforeAll(async () => {
      database = await createTestDatabase();
      client = new pg.Client({ connectionString: database.url });
      await client.connect();
      await migratePg(drizzlePg(client), { migrationsFolder: "drizzle/postgres" });
    });
    afterAll(async () => {
      await client?.end();
      await database?.drop();
    });

    it("create every table, column and index of src/db/postgres-schema.ts", async () => {
      const columns = await client.query<{ table_name: string; column_name: string }>(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'",
      );
      const indexes = await client.query<{ tablename: string; indexname: string }>(
        // Not the indexes behind primary keys, which the schema declares as constraints.
        "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE contype = 'p')",
      );
      const tables = new Map<string, string[]>();
      const add = (table: string, part: string) => tables.set(table, [...(tables.get(table) ?? [table]), part]);
      for (const row of columns.rows) add(row.table_name, row.column_name);
      for (const row of indexes.rows) add(row.tablename, `index ${row.indexname}`);
      const declared = pgTables().map((table) => {
        const t = pgTableConfig(table);
        return [t.name, ...t.columns.map((c) => c.name), ...t.indexes.map((i) => `index ${i.config.name}`)];
      });
      expect(shapeOf([...tables.values()])).toEqual(shapeOf(declared));
    });

    it("make the audit log append-only: UPDATE, DELETE and TRUNCATE are refused", async () => {
      const inserted = await client.query<{ id: string }>(
        "INSERT INTO audit_entries (time, actor_key_id, method, target_type, target_id, request_id, changes) VALUES (1, 'k', 'm', 'event', 'e', 'r', '{}') RETURNING id",
      );
      const id = inserted.rows[0]?.id;
      await expect(client.query("UPDATE audit_entries SET changes = '[]' WHERE id = $1", [id])).rejects.toThrow(
        "audit entries cannot be changed",
      );
      await expect(client.query("DELETE FROM audit_entries WHERE id = $1", [id])).rejects.toThrow(
        "audit entries cannot be deleted",
      );
      await expect(client.query("TRUNCATE audit_entries")).rejects.toThrow("audit entries cannot be deleted");
      const kept = await client.query("SELECT changes FROM audit_entries WHERE id = $1", [id]);
      expect(kept.rows).toEqual([{ changes: "{}" }]);
    });

    it("are recorded as applied: running them again changes nothing", async () => {
      await migratePg(drizzlePg(client), { migrationsFolder: "drizzle/postgres" });
      const journal = JSON.parse(readFileSync("drizzle/postgres/meta/_journal.json", "utf8")) as { entries: unknown[] };
      const applied = await client.query("SELECT id FROM drizzle.__drizzle_migrations");
      expect(applied.rowCount).toBe(journal.entries.length);
    });
  },
);
