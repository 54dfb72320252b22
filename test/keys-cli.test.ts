// The keys CLI as an operator runs it: a real process, on a real SQLite file or PostgreSQL database, beside a real
// server that must accept what it makes.
import { execFile } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyTaskOf } from "../src/keys/cli-commands.js";
import { chooseDatabase } from "../src/keys/cli-database.js";
import { parseKeysCommandLine, UsageError } from "../src/keys/cli-options.js";
import { codeOf, connectClients } from "./support/clients.js";
import { backendEnv, startTestServer, type TestServer, testBackend } from "./support/server.js";

/** Each CLI call takes about a second, many more on a machine loaded by other test files. */
const SLOW = 120_000;
const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
const cliScript = resolve("src/keys/cli.ts");

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Runs the CLI from its sources, as `npm run keys` does, in `cwd` (default a folder of its own), with no database
 * setting but those in `env`.
 */
function keys(args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): Promise<CliRun> {
  const env: Record<string, string | undefined> = { ...process.env, DB_PATH: undefined, DATABASE_URL: undefined };
  const started = performance.now();
  return new Promise((done) => {
    execFile(
      process.execPath,
      ["--import", tsx, cliScript, ...args],
      { env: { ...env, ...options.env }, cwd: options.cwd ?? scratch, encoding: "utf8", timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err ? Number((err as { code?: unknown }).code ?? 1) : 0;
        done({ code, stdout, stderr, ms: performance.now() - started });
      },
    );
  });
}

/** A usage error: exit 2, one line naming the problem, the line pointing to --help, and no stack frame. */
function expectUsageError(run: CliRun, about: RegExp | string) {
  expect(run.code, run.stderr).toBe(2);
  const lines = run.stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(2);
  expect(lines[0]).toMatch(/^keys: /);
  expect(lines[0]).toMatch(about);
  expect(lines[1]).toContain("--help");
  expect(run.stderr).not.toMatch(/^\s+at /m);
  expect(run.stdout).toBe("");
}

/** The UsageError `args` end in before the database is opened, if any (the checks of src/keys/cli.ts, in order). */
function usageProblem(args: string[]): UsageError | undefined {
  try {
    const request = parseKeysCommandLine(args);
    if (request.command) keyTaskOf({ ...request, command: request.command });
    chooseDatabase({ db: request.values.db, databaseUrl: request.values["database-url"] }, {});
    return undefined;
  } catch (err) {
    if (err instanceof UsageError) return err;
    throw err;
  }
}

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "liveops-keys-cli-"));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe.skipIf(testBackend === "postgres")("a SQLite file that is not there", () => {
  it(
    "is refused with its absolute path and exit code 2, and nothing is created",
    async () => {
      // The default path, from a folder that is not the server's: the trap of a new user.
      const run = await keys(["list"]);
      const expected = join(scratch, "data", "liveops.db");
      expectUsageError(run, `no database at ${expected} (from the default)`);
      expect(run.stderr).toContain("--create");
      expect(existsSync(join(scratch, "data"))).toBe(false);
    },
    SLOW,
  );

  it(
    "is refused whether named by DB_PATH or --db, relative paths resolved from the working folder",
    async () => {
      expectUsageError(await keys(["list"], { env: { DB_PATH: "typo/liveops.db" } }), join(scratch, "typo/liveops.db"));
      expectUsageError(await keys(["list", "--db", "other.db"]), `${join(scratch, "other.db")} (from --db)`);
      expect(existsSync(join(scratch, "typo"))).toBe(false);
      expect(existsSync(join(scratch, "other.db"))).toBe(false);
    },
    SLOW,
  );

  it(
    "is created, private, with --create; a bad value still creates nothing",
    async () => {
      const path = join(scratch, "made", "liveops.db");
      const refused = await keys([
        "create",
        "--role",
        "viewer",
        "--name",
        "x",
        "--rate",
        "0/5",
        "--db",
        path,
        "--create",
      ]);
      expectUsageError(refused, "--rate");
      expect(existsSync(path)).toBe(false);

      const made = await keys(["create", "--role", "viewer", "--name", "first", "--db", path, "--create"]);
      expect(made.code, made.stderr).toBe(0);
      expect(made.stdout.trim()).toMatch(/^lo_[0-9a-f]{16}_/);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      const listed = await keys(["list", "--db", path]);
      expect(listed.code).toBe(0);
      expect(listed.stdout).toContain('"first"');
    },
    SLOW,
  );

  it(
    "--db wins over DB_PATH and DATABASE_URL",
    async () => {
      const path = join(scratch, "flag.db");
      await keys(["create", "--role", "admin", "--name", "by flag", "--db", path, "--create"]);
      const run = await keys(["list", "--db", path], {
        env: { DB_PATH: join(scratch, "elsewhere.db"), DATABASE_URL: "postgres://nobody@127.0.0.1:1/none" },
      });
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toContain('"by flag"');
    },
    SLOW,
  );

  it(
    "a folder given as the database is refused, its mode left as it is",
    async () => {
      const folder = join(scratch, "folder.db");
      mkdirSync(folder, { mode: 0o755 });
      chmodSync(folder, 0o755);
      expectUsageError(await keys(["list", "--db", folder]), `${folder} (from --db) is not a file`);
      expect(statSync(folder).mode & 0o777).toBe(0o755);
    },
    SLOW,
  );
});

describe.skipIf(testBackend === "postgres")("bad command lines", () => {
  const cases: [string, string[], RegExp | string][] = [
    ["an unknown option", ["list", "--verbose"], 'unknown option "--verbose"'],
    ["an unknown short option", ["list", "-v"], 'unknown option "-v"'],
    ["an option without its value", ["list", "--db"], "--db needs a value"],
    ["a value given to a switch", ["list", "--json=yes"], "--json takes no value"],
    ["an option given twice", ["list", "--db", "a", "--db", "b"], "--db is given twice"],
    ["an option of another command", ["list", "--role", "admin"], "--role does not apply to list"],
    [
      "a negative number",
      ["create", "--role", "viewer", "--name", "x", "--expires-in-days", "-5"],
      "--expires-in-days",
    ],
    [
      "a number that is not plain decimal",
      ["create", "--role", "viewer", "--name", "x", "--expires-in-days", "1e3"],
      "--expires-in-days",
    ],
    ["a negative grace period", ["rotate", "0123456789abcdef", "--grace-hours", "-1"], "--grace-hours"],
    ["a rate without its burst", ["create", "--role", "viewer", "--name", "x", "--rate", "5"], "--rate"],
    ["an unknown role", ["create", "--role", "king", "--name", "x"], "--role must be one of"],
    ["an unknown command", ["frobnicate"], 'unknown command "frobnicate"'],
    ["no command", [], "a command is required"],
    ["an extra positional", ["list", "everything"], 'unexpected argument "everything"'],
    ["a malformed key id", ["revoke", "not-an-id"], "needs a key id"],
    ["both databases", ["list", "--db", "a.db", "--database-url", "postgres://h/d"], "not both"],
    ["a URL that is not PostgreSQL", ["list", "--database-url", "mysql://h/d"], "--database-url must be a postgres://"],
  ];
  it("each is refused with its own one-line reason before any database is opened", () => {
    for (const [what, args, about] of cases) {
      const problem = usageProblem(args);
      expect(problem, what).toBeInstanceOf(UsageError);
      expect(problem?.message, what).toMatch(about);
      expect(problem?.message, what).not.toContain("\n");
    }
  });

  it(
    "each kind is one line on stderr with the usage hint from the real process, exit code 2, no stack trace",
    async () => {
      // One of each kind (the reasons are checked above): processes are slow on a loaded machine.
      const kinds = [0, 2, 6, 11, 13, 16].map((i) => cases[i] as (typeof cases)[number]);
      for (const [what, args, about] of kinds) {
        const run = await keys(args);
        expect(run.code, what).toBe(2);
        expectUsageError(run, about);
      }
    },
    SLOW,
  );

  it(
    "--help prints the commands, the options and the exit codes, exit code 0",
    async () => {
      const run = await keys(["--help"]);
      expect(run.code).toBe(0);
      for (const text of [
        "create",
        "list",
        "revoke",
        "rotate",
        "--db",
        "--database-url",
        "--create",
        "--json",
        "Exit codes",
      ])
        expect(run.stdout).toContain(text);
    },
    SLOW,
  );
});

describe.skipIf(testBackend === "postgres")("an unreachable PostgreSQL", () => {
  it(
    "is one line naming where, without the password, and exit code 1",
    async () => {
      // A port that was free a moment ago: nothing listens there.
      const port = await new Promise<number>((done) => {
        const probe = createServer().listen(0, "127.0.0.1", () => {
          const address = probe.address();
          probe.close(() => done(typeof address === "object" && address ? address.port : 1));
        });
      });
      const run = await keys(["list", "--database-url", `postgres://liveops:hunter2@127.0.0.1:${port}/liveops`]);
      expect(run.code).toBe(1);
      expect(run.stderr.trimEnd().split("\n")).toEqual([
        `keys: cannot reach PostgreSQL at 127.0.0.1:${port}/liveops: connect ECONNREFUSED 127.0.0.1:${port}`,
      ]);
      expect(run.stdout).toBe("");
    },
    SLOW,
  );
});

describe(`on the server's database (${testBackend})`, () => {
  let server: TestServer;
  let target: string[];
  beforeAll(async () => {
    server = await startTestServer();
    target =
      testBackend === "sqlite"
        ? ["--db", server.dbPath]
        : ["--database-url", (await backendEnv(server.dbPath)).DATABASE_URL ?? ""];
  });
  afterAll(() => server?.close());
  const events = (key: string) => codeOf(connectClients(server.baseUrl, key).events.listEvents({}));

  it(
    "--json: create and rotate print the secret once, list never does, revoke prints the key; the server agrees",
    async () => {
      const created = await keys([
        "create",
        "--role",
        "viewer",
        "--name",
        "json key",
        "--rate",
        "20/40",
        "--json",
        ...target,
      ]);
      expect(created.code, created.stderr).toBe(0);
      expect(created.stderr).toBe("");
      const key = JSON.parse(created.stdout) as Record<string, unknown>;
      expect(key).toMatchObject({
        name: "json key",
        role: "viewer",
        state: "active",
        rateLimit: { perSecond: 20, burst: 40 },
      });
      expect(key.key).toMatch(new RegExp(`^lo_${key.id}_`));
      expect(new Date(String(key.createTime)).toISOString()).toBe(key.createTime);
      expect(await events(String(key.key))).toBe("ok");

      const rotated = await keys(["rotate", String(key.id), "--grace-hours", "1", "--json", ...target]);
      expect(rotated.code, rotated.stderr).toBe(0);
      const next = JSON.parse(rotated.stdout) as Record<string, unknown>;
      expect(next.key).not.toBe(key.key);
      expect(next.previousSecretExpireTime).toEqual(expect.any(String));
      expect(await events(String(next.key))).toBe("ok");

      const listed = await keys(["list", "--json", ...target]);
      expect(listed.code, listed.stderr).toBe(0);
      const all = JSON.parse(listed.stdout) as Record<string, unknown>[];
      expect(all.find((k) => k.id === key.id)).toMatchObject({ name: "json key", state: "active" });
      for (const listedKey of all) expect(listedKey).not.toHaveProperty("key");
      for (const secret of [key.key, next.key]) expect(listed.stdout).not.toContain(String(secret).slice(20));

      const revoked = await keys(["revoke", String(key.id), "--json", ...target]);
      expect(revoked.code, revoked.stderr).toBe(0);
      expect(JSON.parse(revoked.stdout)).toMatchObject({ id: key.id, state: "revoked" });
      expect(await events(String(next.key))).toBe(Code.Unauthenticated);
    },
    SLOW,
  );

  it(
    "a key the CLI creates in text mode works on the server with its role",
    async () => {
      const created = await keys(["create", "--role", "operator", "--name", "text key", ...target]);
      expect(created.code, created.stderr).toBe(0);
      expect(created.stderr).toMatch(/^created operator key "text key"/);
      expect(await events(created.stdout.trim())).toBe("ok");
    },
    SLOW,
  );

  it.runIf(testBackend === "postgres")(
    "a PostgreSQL database that does not exist is one line naming it, exit code 1",
    async () => {
      const url = new URL(target[1] ?? "");
      url.pathname = "/liveops_no_such_database";
      const run = await keys(["list", "--database-url", url.toString()]);
      expect(run.code).toBe(1);
      expect(run.stderr.trimEnd().split("\n")).toEqual([
        `keys: cannot reach PostgreSQL at ${url.hostname}:${url.port}/liveops_no_such_database: database "liveops_no_such_database" does not exist`,
      ]);
    },
    SLOW,
  );

  it(
    "a key that is not there is a failure of the command: one line, exit code 1",
    async () => {
      const run = await keys(["revoke", "0123456789abcdef", ...target]);
      expect(run.code).toBe(1);
      expect(run.stderr.trimEnd().split("\n")).toEqual(["keys: no key 0123456789abcdef"]);
    },
    SLOW,
  );
});

describe.skipIf(testBackend === "postgres")("the npm script", () => {
  it(
    "runs the CLI from its sources and builds nothing first",
    async () => {
      const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { scripts: Record<string, string> };
      expect(pkg.scripts.keys).toBe("node --import tsx src/keys/cli.ts");
      const built = "dist/src/main.js";
      const before = existsSync(built) ? statSync(built).mtimeMs : undefined;
      const path = join(scratch, "npm.db");
      const run = await new Promise<{ code: number; stdout: string }>((done) =>
        execFile(
          "npm",
          ["run", "--silent", "keys", "--", "create", "--role", "viewer", "--name", "npm", "--db", path, "--create"],
          { encoding: "utf8", timeout: 60_000 },
          (err, stdout) => done({ code: err ? 1 : 0, stdout }),
        ),
      );
      expect(run.code).toBe(0);
      expect(run.stdout.trim()).toMatch(/^lo_[0-9a-f]{16}_/);
      expect(existsSync(built) ? statSync(built).mtimeMs : undefined).toBe(before);
    },
    SLOW,
  );
});
