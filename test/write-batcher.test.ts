import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openDatabase } from "../src/db/database.js";
import { createWriteBatcher } from "../src/db/write-batcher.js";

const dir = mkdtempSync(join(tmpdir(), "liveops-batcher-"));
const database = openDatabase(join(dir, "liveops.db"));
afterAll(() => {
  database.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("the group commit", () => {
  it("does not run a write whose caller has gone (its deadline passed) before its batch, and runs the others", async () => {
    const batcher = createWriteBatcher(database.db);
    const ran: string[] = [];
    const gone = new AbortController();
    const kept = batcher.run(() => ran.push("kept"));
    const dropped = batcher.run(() => ran.push("dropped"), undefined, gone.signal);
    gone.abort(new Error("deadline exceeded"));
    await expect(kept).resolves.toBe(1);
    await expect(dropped).rejects.toThrow("deadline exceeded");
    expect(ran).toEqual(["kept"]);
  });

  it("commits a long queue in several transactions, each taking writes for about 10 ms", async () => {
    const sizes: number[] = [];
    const batcher = createWriteBatcher(database.db, (size) => sizes.push(size));
    const busy = (ms: number) => {
      const until = performance.now() + ms;
      while (performance.now() < until);
    };
    await Promise.all(Array.from({ length: 20 }, () => batcher.run(() => busy(2))));
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(20);
    expect(sizes.length).toBeGreaterThanOrEqual(3);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(7);
  });
});
