import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openSqliteStorage, type SqliteStorage } from "../src/db/sqlite-storage.js";
import { parseApiKey } from "../src/keys/api-key.js";
import { ensureInitialAdminKey } from "../src/keys/initial-admin-key.js";
import { createKeyStore } from "../src/keys/key-store.js";
import { createTestClock } from "./support/test-clock.js";

let dir: string;
let storage: SqliteStorage;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "liveops-keys-"));
  storage = openSqliteStorage(join(dir, "liveops.db"));
});
afterEach(async () => {
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("the initial admin key", () => {
  it("is kept only if its file could be written", async () => {
    const keys = createKeyStore(storage);
    const clock = createTestClock();
    // A folder that cannot be made: a file stands where it would be.
    writeFileSync(join(dir, "blocker"), "");
    await expect(ensureInitialAdminKey(keys, clock, join(dir, "blocker", "key"))).rejects.toThrow();
    const file = join(dir, "initial-admin-key");
    const id = await ensureInitialAdminKey(keys, clock, file);
    expect(id).toBeDefined();
    const key = readFileSync(file, "utf8").trim();
    expect(parseApiKey(key)?.id).toBe(id);
    expect((await keys.findKeyById(id ?? ""))?.role).toBe("admin");
  });

  it("tightens the mode of a file left from before, and is made only once", async () => {
    const keys = createKeyStore(storage);
    const file = join(dir, "initial-admin-key");
    writeFileSync(file, "stale", { mode: 0o644 });
    expect(await ensureInitialAdminKey(keys, createTestClock(), file)).toBeDefined();
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(await ensureInitialAdminKey(keys, createTestClock(), file)).toBeUndefined();
  });
});

describe("the key format", () => {
  it("parses only lo_<16 hex>_<43 base64url>", () => {
    const secret = "A".repeat(43);
    expect(parseApiKey(`lo_0123456789abcdef_${secret}`)?.id).toBe("0123456789abcdef");
    for (const bad of [
      "",
      "lo__",
      `lo_0123456789ABCDEF_${secret}`,
      `lo_0123456789abcdef_${secret}x`,
      `xx_0123456789abcdef_${secret}`,
    ]) {
      expect(parseApiKey(bad)).toBeUndefined();
    }
  });
});
