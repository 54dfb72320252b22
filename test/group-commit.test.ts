import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { openSqliteStorage } from "../src/db/sqlite-storage.js";

const dir = mkdtempSync(join(tmpdir(), "liveops-batcher-"));
const sizes: number[] = [];
const storage = openSqliteStorage(join(dir, "liveops.db"), { onBatch: (size) => sizes.push(size) });
afterAll(async () => {
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("the SQLite group commit", () => {
  it("does not run a unit whose caller has gone (its deadline passed) before its batch, and runs the others", async () => {
    const ran: string[] = [];
    const gone = new AbortController();
    const kept = storage.withTransaction(async () => ran.push("kept"));
    const dropped = storage.withTransaction(async () => ran.push("dropped"), { signal: gone.signal });
    gone.abort(new Error("deadline exceeded"));
    await expect(kept).resolves.toBe(1);
    await expect(dropped).rejects.toThrow("deadline exceeded");
    expect(ran).toEqual(["kept"]);
  });

  it("commits a long queue in several transactions, each taking units for about 10 ms", async () => {
    sizes.length = 0;
    const busy = (ms: number) => {
      const until = performance.now() + ms;
      while (performance.now() < until);
    };
    await Promise.all(Array.from({ length: 20 }, () => storage.withTransaction(async () => busy(2))));
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(20);
    expect(sizes.length).toBeGreaterThanOrEqual(3);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(7);
  });

  it("rolls back a unit that throws alone, and commits the others of its batch", async () => {
    await storage.withTransaction((tx) => tx.run(sql`CREATE TABLE IF NOT EXISTS notes (text TEXT NOT NULL)`));
    const results = await Promise.allSettled([
      storage.withTransaction((tx) => tx.run(sql`INSERT INTO notes (text) VALUES ('first')`)),
      storage.withTransaction(async (tx) => {
        await tx.run(sql`INSERT INTO notes (text) VALUES ('rolled back')`);
        throw new Error("refused");
      }),
      storage.withTransaction((tx) => tx.run(sql`INSERT INTO notes (text) VALUES ('third')`)),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    const notes = await storage.reads.all<{ text: string }>(sql`SELECT text FROM notes ORDER BY rowid`);
    expect(notes.map((n) => n.text)).toEqual(["first", "third"]);
  });

  it("shows reads only what has committed", async () => {
    let seenInside: number | undefined;
    await storage.withTransaction(async (tx) => {
      await tx.run(sql`INSERT INTO notes (text) VALUES ('pending')`);
      const row = await storage.reads.get<{ n: number }>(sql`SELECT count(*) AS n FROM notes WHERE text = 'pending'`);
      seenInside = row?.n;
    });
    const after = await storage.reads.get<{ n: number }>(sql`SELECT count(*) AS n FROM notes WHERE text = 'pending'`);
    expect(seenInside).toBe(0);
    expect(after?.n).toBe(1);
  });

  it("refuses a statement on a transaction after its unit has ended", async () => {
    let leaked: Parameters<Parameters<typeof storage.withTransaction>[0]>[0] | undefined;
    await storage.withTransaction(async (tx) => {
      leaked = tx;
    });
    await expect(leaked?.run(sql`INSERT INTO notes (text) VALUES ('late')`)).rejects.toThrow(
      /outside its unit of work/,
    );
  });
});
