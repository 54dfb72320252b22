import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Sqlite from "better-sqlite3";
import { drizzle } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import { afterAll, describe, expect, it } from "vitest";
import { openDatabase } from "../src/db/database.js";

const dir = mkdtempSync(join(tmpdir(), "liveops-migrations-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A copy of drizzle/ holding only the migrations up to `tag`: a database as an earlier release left it. */
function migrationsUpTo(tag: string): string {
  const folder = join(dir, `drizzle-${tag}`);
  cpSync("drizzle", folder, { recursive: true });
  const journalPath = join(folder, "meta", "_journal.json");
  const journal = JSON.parse(readFileSync(journalPath, "utf8")) as { entries: { tag: string }[] };
  const last = journal.entries.findIndex((e) => e.tag === tag);
  journal.entries = journal.entries.slice(0, last + 1);
  writeFileSync(journalPath, JSON.stringify(journal));
  return folder;
}

describe("migrations", () => {
  it("give every event stored before recurring events its one run, boundaries already passed counted as announced", () => {
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

    const database = openDatabase(path);
    const runs = database.sqlite
      .prepare(
        "SELECT event_id, run_number, start_time, end_time, start_announced, end_announced FROM event_runs ORDER BY event_id",
      )
      .all();
    database.close();
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
});
