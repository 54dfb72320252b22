// The SQLite file itself: its lock, its modes, the tools beside it. Nothing of it applies to PostgreSQL.
import { execFile } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import Sqlite from "better-sqlite3";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DatabaseInUseError } from "../src/db/server-lock.js";
import { openSqliteStorage } from "../src/db/sqlite-storage.js";
import { type ChildServer, spawnServer } from "./support/child-server.js";
import { connectClients } from "./support/clients.js";
import { testBackend } from "./support/server.js";

const run = promisify(execFile);

/** Runs `node --import tsx <script> ...args` on the database at `dbPath` to its end. */
async function runScript(dbPath: string, script: string, args: string[] = []) {
  return run(process.execPath, ["--import", "tsx", script, ...args], {
    env: { ...process.env, DB_PATH: dbPath, PORT: "0", HOST: "127.0.0.1" },
    encoding: "utf8",
    timeout: 20_000,
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({ ...err }),
  );
}

const adminKey = (dbPath: string) => readFileSync(join(dirname(dbPath), "initial-admin-key"), "utf8").trim();
const listEvents = (server: ChildServer, key: string) => connectClients(server.baseUrl, key).events.listEvents({});
const modeOf = (file: string) => statSync(file).mode & 0o777;

describe.skipIf(testBackend === "postgres")("beside a running server", () => {
  let serverDir: string;
  let dbPath: string;
  let server: ChildServer;
  beforeAll(async () => {
    serverDir = mkdtempSync(join(tmpdir(), "liveops-files-"));
    dbPath = join(serverDir, "data", "liveops.db");
    server = await spawnServer({ DB_PATH: dbPath });
  });
  afterAll(async () => {
    server.child.kill("SIGKILL");
    await server.exited;
    rmSync(serverDir, { recursive: true, force: true });
  });

  it("a second server on the same file is refused at start with one line naming it; the first keeps serving", async () => {
    const second = await runScript(dbPath, "src/main.ts");
    expect(second.code).toBe(1);
    expect(second.stderr.trim().split("\n")).toEqual([
      `liveops: failed to start: another liveops server is using ${dbPath} (it holds ${dbPath}.lock); only one server may run on a SQLite file: stop the other one first (the keys CLI works beside it)`,
    ]);
    expect(second.stdout).not.toContain("liveops listening");
    await expect(listEvents(server, adminKey(dbPath))).resolves.toBeDefined();
  });

  it("a second server is refused through a symlink to the file or to its folder too", async () => {
    const linkedFile = join(serverDir, "linked.db");
    const linkedFolder = join(serverDir, "linked-data");
    symlinkSync(dbPath, linkedFile);
    symlinkSync(dirname(dbPath), linkedFolder);
    for (const path of [linkedFile, join(linkedFolder, "liveops.db")]) {
      const second = await runScript(path, "src/main.ts");
      expect(second.code, path).toBe(1);
      expect(second.stderr).toContain(`(it holds ${dbPath}.lock)`);
    }
    await expect(listEvents(server, adminKey(dbPath))).resolves.toBeDefined();
  });

  it("the keys CLI works beside it", async () => {
    const created = await runScript(dbPath, "src/keys/cli.ts", ["create", "--role", "viewer", "--name", "beside"]);
    expect(created.code).toBe(0);
    await expect(listEvents(server, created.stdout.trim())).resolves.toBeDefined();
    expect((await runScript(dbPath, "src/keys/cli.ts", ["list"])).stdout).toContain('"beside"');
  });

  it("the database, its -wal and -shm and the lock file are 0600, in a folder made 0700", async () => {
    await listEvents(server, adminKey(dbPath));
    expect(modeOf(join(serverDir, "data"))).toBe(0o700);
    for (const suffix of ["", "-wal", "-shm", ".lock"]) expect(modeOf(`${dbPath}${suffix}`), suffix).toBe(0o600);
    expect(modeOf(join(serverDir, "data", "initial-admin-key"))).toBe(0o600);
  });
});

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "liveops-lock-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(testBackend === "postgres")("the server lock", () => {
  it("dies with its process: after a SIGKILL a new server starts on the file", async () => {
    const dbPath = join(dir, "liveops.db");
    const first = await spawnServer({ DB_PATH: dbPath });
    first.child.kill("SIGKILL");
    await first.exited;
    const second = await spawnServer({ DB_PATH: dbPath });
    try {
      await expect(listEvents(second, adminKey(dbPath))).resolves.toBeDefined();
    } finally {
      second.child.kill("SIGKILL");
      await second.exited;
    }
  });

  it("is released by closing the database, so the same process can open it again", async () => {
    const path = join(dir, "in-process.db");
    const first = openSqliteStorage(path, { serverLock: true });
    expect(() => openSqliteStorage(path, { serverLock: true })).toThrow(DatabaseInUseError);
    // Without the lock (the keys CLI), the file opens beside the server.
    await openSqliteStorage(path).close();
    await first.close();
    await openSqliteStorage(path, { serverLock: true }).close();
  });
});

describe.skipIf(testBackend === "postgres")("database file modes", () => {
  it("an existing database readable by others is made private on open, with a log line per file", async () => {
    const path = join(dir, "old.db");
    const old = new Sqlite(path);
    old.pragma("journal_mode = WAL");
    old.exec("CREATE TABLE t (x); INSERT INTO t VALUES (1)"); // -wal and -shm stay while it is open
    for (const suffix of ["", "-wal", "-shm"]) chmodSync(`${path}${suffix}`, 0o644);
    const warnings: unknown[] = [];
    const storage = openSqliteStorage(path, { logger: { warn: (fields: unknown) => warnings.push(fields) } });
    for (const suffix of ["", "-wal", "-shm"]) expect(modeOf(`${path}${suffix}`), suffix).toBe(0o600);
    expect(warnings).toEqual(
      ["", "-wal", "-shm"].map((suffix) => ({ file: `${path}${suffix}`, was: "0644", now: "0600" })),
    );
    await storage.close();
    old.close();
  });
});
