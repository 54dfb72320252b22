import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { loadDemo } from "../src/demo/load-demo.js";
import { type ProcessOutput, runProcess } from "./support/process-output.js";
import { realClock } from "./support/real-clock.js";
import { backendEnv, dropBackend, startTestServer, type TestServer, testBackend } from "./support/server.js";
import { commandRuns, skipWithoutTool } from "./support/system-tools.js";

/*
 * The README's examples, run as written. The rules:
 * - "Try it with curl and buf curl", "Competitions", the health and reflection block of "Operating it": the shell
 *   blocks of each run in bash, in order, as one script (`set -eo pipefail`), in a folder whose data/initial-admin-key
 *   holds the admin key of a real server that `npm run demo`'s loader filled first (so `KEY=$(cat
 *   data/initial-admin-key)` is true as written), with `proto`, `buf.yaml` and `node_modules` of this repository
 *   beside it. The server runs on the machine's clock, so times computed with `jq -n now` are live times for it. The
 *   only change made to the text: `localhost:8080` becomes the server's address.
 * - A step is a paragraph of a block (its comment lines and its commands). A step whose comment says "Ctrl-C" is a
 *   stream that ends only when interrupted: it runs in the background in its own process group, which gets SIGINT
 *   (what Ctrl-C sends) once the stream printed its first answer (WatchEvents: EVENT_CHANGE_TYPE_SYNCED;
 *   WatchLeaderboard: the board's `top`), or after a minute; a stream that ended by itself before must have exited 0.
 * - The script must exit 0; every variable it assigns must end non-empty (not jq's "null"); every step that prints
 *   must print something; what it prints must be JSON answers (or a bare id, from `echo`; or method names, from
 *   `--list-methods`), none a Connect error or an empty answer (`{}`).
 * - "Players and audiences": its walkthrough prints errors on purpose, so it runs the same way and what it prints is
 *   checked against the README's comments (the error's position, who sees the event, the 404, permission_denied).
 * - Every other block that calls `localhost:8080` (Listing filters, OpenAPI, Conditional reads, Time zones…) runs the
 *   same way, on its own; a bare value it prints must come from `jq` or curl's `%{http_code}`.
 * - "The first admin key": its keys-CLI block runs the same way, in that folder with this repository's
 *   `package.json`, `tsconfig.json`, `src`, `gen` and `node_modules` beside `data/` (so `npm run keys` finds the
 *   server's database by its default path, as the README says); on PostgreSQL with `DATABASE_URL` set, which the
 *   README names as the way there. Its output is npm's and the CLI's text, so what is checked is its effect: the
 *   server itself then reports the key the block named rotated and revoked.
 * - "Run it" (up to "Run it on PostgreSQL"): its blocks install and start the service, so they are not run here;
 *   every `npm run <script>` they name must exist in package.json (the demo itself is tested in demo.test.ts).
 *   Not run either, needing systems outside this test: "Run it on PostgreSQL" (createuser, createdb, a database
 *   host), "Test it" (the whole suite), "Container" (docker).
 */

const README = readFileSync("README.md", "utf8");
const packageScripts = Object.keys(
  (JSON.parse(readFileSync("package.json", "utf8")) as { scripts: Record<string, string> }).scripts,
);

/** The text of `## name` up to the next heading of the same level (or `until`, a heading inside it). */
function section(name: string, until = "\n## "): string {
  const start = README.indexOf(`\n## ${name}\n`);
  if (start < 0) throw new Error(`README has no section "## ${name}"`);
  const end = README.indexOf(until, start + name.length + 5);
  return README.slice(start, end < 0 ? undefined : end);
}

/** The text of `### name` up to the next heading of level 2 or 3. */
function subsection(name: string): string {
  const start = README.indexOf(`\n### ${name}\n`);
  if (start < 0) throw new Error(`README has no section "### ${name}"`);
  const rest = README.slice(start + name.length + 6);
  const end = rest.search(/\n##?# /);
  return README.slice(start, start + name.length + 6 + (end < 0 ? rest.length : end));
}

/** The bodies of the ```sh blocks of `text`. */
function shellBlocks(text: string): string[] {
  return [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] as string);
}

/** The paragraphs of a block: each a step. */
function stepsOf(block: string): string[] {
  return block
    .split(/\n\s*\n/)
    .map((step) => step.trim())
    .filter((step) => step !== "");
}

const isInterrupted = (step: string) => /^#.*Ctrl-C/m.test(step);
/** A command line that prints (not an assignment, comment or continuation of one), also inside a loop. */
const printsSomething = (step: string) => step.split("\n").some((line) => /^\s*(curl|npx|echo)\b/.test(line));

/** What an interrupted stream prints in its first answer: the script waits for it before Ctrl-C. */
function firstAnswerOf(step: string): string {
  if (step.includes("/WatchEvents")) return "EVENT_CHANGE_TYPE_SYNCED";
  if (step.includes("/WatchLeaderboard")) return '"top"';
  throw new Error(`no first answer known for the stream of:\n${step}`);
}

/** A bash script of the steps, with a marker line after each step's output. */
function scriptOf(steps: string[], address: string): string {
  const lines = ["set -eo pipefail", "set -m"];
  steps.forEach((raw, i) => {
    const step = raw.replaceAll("localhost:8080", address);
    if (isInterrupted(step)) {
      lines.push(
        `( ${step}\n) > "step-${i}.out" 2> "step-${i}.err" &`,
        "pid=$!",
        "until_time=$((SECONDS + 60))",
        `until grep -qF '${firstAnswerOf(step)}' "step-${i}.out" || [ "$SECONDS" -ge "$until_time" ]; do sleep 0.2; done`,
        // Interrupted: its exit status is the signal's. Ended by itself (an error): its own status counts.
        'if kill -INT -- "-$pid" 2>/dev/null; then wait "$pid" || true; else wait "$pid"; fi',
        `cat "step-${i}.out"`,
      );
    } else lines.push(step);
    lines.push(`printf '\\n::step %d\\n' ${i}`);
  });
  return `${lines.join("\n")}\n`;
}

/** The variables the steps assign (`NAME=…` at a line's start or after another assignment). */
function assignedVariables(steps: string[]): string[] {
  const names = new Set<string>();
  for (const step of steps) {
    for (const line of step.split("\n")) {
      for (const match of line.matchAll(/(?:^|\)\s+)([A-Z_][A-Z0-9_]*)=/g)) names.add(match[1] as string);
    }
  }
  return [...names];
}

/** The JSON values (and bare words) of a step's output, in order. */
function valuesOf(output: string): unknown[] {
  const values: unknown[] = [];
  let i = 0;
  while (i < output.length) {
    const char = output[i] as string;
    if (/\s/.test(char)) {
      i++;
      continue;
    }
    if (char !== "{" && char !== "[") {
      const end = output.slice(i).search(/\s/);
      values.push(end < 0 ? output.slice(i) : output.slice(i, i + end));
      i = end < 0 ? output.length : i + end;
      continue;
    }
    let depth = 0;
    let inString = false;
    let j = i;
    for (; j < output.length; j++) {
      const c = output[j];
      if (inString) {
        if (c === "\\") j++;
        else if (c === '"') inString = false;
      } else if (c === '"') inString = true;
      else if (c === "{" || c === "[") depth++;
      else if (c === "}" || c === "]") {
        depth--;
        if (depth === 0) break;
      }
    }
    values.push(JSON.parse(output.slice(i, j + 1)));
    i = j + 1;
  }
  return values;
}

function runBash(script: string, cwd: string, env: Record<string, string> = {}): Promise<ProcessOutput> {
  // The storage settings of this process (if any) are not the README's: only `env` says where the database is.
  const { DB_PATH: _dbPath, DATABASE_URL: _databaseUrl, ...inherited } = process.env;
  // npm_config_offline: npx must run the buf of node_modules, never fetch one.
  return runProcess("bash", ["-c", script], {
    cwd,
    env: { ...inherited, npm_config_offline: "true", npm_config_update_notifier: "false", ...env },
  });
}

const tools = [
  { name: "curl", present: commandRuns("curl"), install: "apt-get install curl" },
  { name: "jq", present: commandRuns("jq"), install: "apt-get install jq" },
  { name: "buf", present: existsSync("node_modules/.bin/buf"), install: "npm ci brings it" },
];
const missing = tools.find((tool) => !tool.present);
const skip = skipWithoutTool(
  missing ?? { name: "curl, jq and buf", present: true, install: "" },
  "the README's curl and buf curl examples",
);

describe("README: every shell example pastes as written", () => {
  it("holds no placeholder to fill in by hand and no GNU-only date, outside the blocks that need outside systems", () => {
    // Exempt: setting up PostgreSQL (its password and host are the reader's own).
    const exempt = shellBlocks(subsection("Run it on PostgreSQL"));
    const blocks = shellBlocks(README).filter((block) => !exempt.includes(block));
    expect(blocks.length).toBeGreaterThan(10);
    for (const block of blocks) {
      expect(block, "a placeholder such as <id>").not.toMatch(/<[A-Za-z][\w -]*>/);
      expect(block, "an ellipsis to fill in").not.toContain("…");
      expect(block, "GNU date's -d (macOS's date has no -d): use jq -n 'now + …'").not.toMatch(/\bdate\b[^\n|]*\s-d\b/);
    }
  });
});

describe("README: Run it", () => {
  it("names only npm scripts that exist", () => {
    const blocks = shellBlocks(section("Run it", "\n### Run it on PostgreSQL"));
    expect(blocks.length).toBeGreaterThan(0);
    const named = blocks.flatMap((block) => [...block.matchAll(/npm run ([\w:-]+)/g)].map((m) => m[1]));
    expect(named).toContain("demo");
    for (const script of named) expect(packageScripts).toContain(script);
  });
});

/** A step's output, parsed, and a description of it for failure messages. */
interface StepResult {
  step: string;
  output: string;
  values: unknown[];
  where: string;
}

/** The steps run as one script against `address` in `folder`: it exits 0 and every variable it assigns is set. */
async function runSteps(steps: string[], folder: string, address: string): Promise<StepResult[]> {
  const variables = assignedVariables(steps);
  const report = variables.map((name) => `printf '::var ${name}=%s\\n' "$${name}"`).join("\n");
  const { code, stdout, stderr } = await runBash(`${scriptOf(steps, address)}${report}\n`, folder);
  expect(code, `the script failed:\n${stderr}\n${stdout}`).toBe(0);

  for (const name of variables) {
    const value = new RegExp(`^::var ${name}=(.*)$`, "m").exec(stdout)?.[1];
    expect(value, `${name} is empty or null`).toMatch(/^(?!null$).+/);
  }
  const outputs = stdout.split(/^::step \d+$/m);
  return steps.map((step, i) => {
    const output = outputs[i] ?? "";
    return {
      step,
      output,
      values: valuesOf(output),
      where: `step ${i + 1} (${step.split("\n")[0]}) printed:\n${output}`,
    };
  });
}

/** The steps run as {@link runSteps} does, each printing JSON answers that are not errors (the rules above). */
async function runWalkthrough(steps: string[], folder: string, address: string): Promise<StepResult[]> {
  const results = await runSteps(steps, folder, address);
  for (const { step, output, values, where } of results) {
    if (printsSomething(step)) expect(values.length, where).toBeGreaterThan(0);
    for (const value of values) {
      // A bare word is what `echo "$ID"` prints, or a method name from --list-methods; from anything else it is not
      // an answer.
      if (typeof value === "string") {
        if (/--list-methods/.test(step)) expect(value, where).toMatch(/^[\w.]+\/\w+$/);
        else expect(step, where).toMatch(/^echo /m);
      }
      expect(value, where).not.toEqual({});
      if (typeof value === "object" && value !== null) expect(value, where).not.toHaveProperty("code");
    }
    if (isInterrupted(step)) expect(output, where).toContain(firstAnswerOf(step));
  }
  return results;
}

describe.skipIf(skip)("README: the examples that call a server, run as written", () => {
  let folder: string;
  let dbPath: string;
  let server: TestServer;
  let address: string;

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), "liveops-readme-"));
    const data = join(folder, "data");
    mkdirSync(data, { mode: 0o700 });
    for (const name of ["proto", "buf.yaml", "node_modules", "package.json", "tsconfig.json", "src", "gen"]) {
      symlinkSync(resolve(name), join(folder, name));
    }
    dbPath = join(data, "liveops.db");
    // The demo first, as the README's "Run it" does: it writes data/initial-admin-key.
    const config = loadConfig({ ...(await backendEnv(dbPath)) });
    await loadDemo({ config, logger: pino({ level: "silent" }) });
    server = await startTestServer({}, { dir: data, clock: realClock });
    address = `127.0.0.1:${server.port}`;
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    rmSync(folder, { recursive: true, force: true });
    await dropBackend(dbPath);
  });

  it("Try it: every step exits 0 and prints JSON answers that are not errors", async () => {
    const steps = shellBlocks(section("Try it with curl and buf curl")).flatMap(stepsOf);
    expect(steps.some(isInterrupted)).toBe(true);
    expect(assignedVariables(steps)).toEqual(expect.arrayContaining(["KEY", "ID"]));
    await runWalkthrough(steps, folder, address);
  }, 180_000);

  it("Competitions: a live event scored, watched, ended and its prize claimed, every step as written", async () => {
    const steps = shellBlocks(section("Competitions")).flatMap(stepsOf);
    expect(steps.some(isInterrupted)).toBe(true);
    expect(assignedVariables(steps)).toEqual(expect.arrayContaining(["KEY", "EVENT", "GRANT"]));
    const results = await runWalkthrough(steps, folder, address);
    // The board the watch showed holds the three players who scored: the run was live when they did.
    const watch = results.find((result) => isInterrupted(result.step));
    const board = watch?.values[0] as { top?: { playerId: string }[] } | undefined;
    expect(board?.top?.map((entry) => entry.playerId).sort(), watch?.where).toEqual(["ana", "ben", "cleo"]);
    // The claim answered ana's grant of this event, claimed.
    const claim = results.find((result) => result.step.includes("/ClaimReward"));
    expect(JSON.stringify(claim?.values), claim?.where).toMatch(/"playerId":"ana"/);
    expect(JSON.stringify(claim?.values), claim?.where).toMatch(/"claimTime":"/);
  }, 180_000);

  it("Players and audiences: the walkthrough prints what its comments say", async () => {
    // Its steps print errors on purpose (a bad expression, a 404, another player's grants), so what each prints is
    // checked against the README's own words rather than by the rule of answers that are not errors.
    const steps = shellBlocks(section("Players and audiences")).flatMap(stepsOf);
    expect(assignedVariables(steps)).toEqual(expect.arrayContaining(["KEY", "EVENT", "ANA", "BEN"]));
    const results = await runSteps(steps, folder, address);
    const printedBy = (comment: string) => {
      const result = results.find(({ step }) => step.startsWith(`# ${comment}`));
      if (!result) throw new Error(`no step starts with "# ${comment}"`);
      return result;
    };
    for (const { step, values, where } of results) {
      if (step.startsWith("#") && printsSomething(step)) expect(values.length, where).toBeGreaterThan(0);
    }
    // A mistake with its position, then a good expression with how many stored players it holds.
    const preview = printedBy("Try an expression before saving it");
    expect(JSON.stringify(preview.values[0]), preview.where).toContain("1:27");
    // int64 counts are strings in JSON.
    const { matchingPlayers } = preview.values[1] as { matchingPlayers?: string };
    expect(Number(matchingPlayers), preview.where).toBeGreaterThan(0);
    const saved = printedBy("Save it");
    expect(saved.values[0], saved.where).toHaveProperty("audience");
    // ana sees the event, ben does not (and gets 404 for it), and ben may not read ana's grants.
    const read = printedBy("Read as each player");
    const [anaTitles, benTitles, status, denied] = read.values;
    expect(anaTitles, read.where).toContain("Veterans weekend");
    expect(benTitles, read.where).toEqual(expect.any(Array));
    expect(benTitles, read.where).not.toContain("Veterans weekend");
    expect(status, read.where).toBe("404");
    expect(denied, read.where).toBe('"permission_denied"');
  }, 180_000);

  it("every other block that calls the server runs as written and prints answers that are not errors", async () => {
    const walked = ["Try it with curl and buf curl", "Competitions", "Players and audiences", "Operating it"]
      .map((name) => section(name))
      .join("\n");
    const blocks = shellBlocks(README).filter((block) => block.includes("localhost:8080") && !walked.includes(block));
    // Listing filters, OpenAPI, Conditional reads, Time zones (at least).
    expect(blocks.length).toBeGreaterThanOrEqual(4);
    for (const block of blocks) {
      for (const { step, values, where } of await runSteps(stepsOf(block), folder, address)) {
        if (printsSomething(step)) expect(values.length, where).toBeGreaterThan(0);
        for (const value of values) {
          // A bare word is an HTTP status (`-w '%{http_code}'`) or a value jq picked; never from an answer itself.
          if (typeof value === "string") expect(step, where).toMatch(/%\{http_code\}|\| jq /);
          expect(value, where).not.toEqual({});
          if (typeof value === "object" && value !== null) expect(value, where).not.toHaveProperty("code");
        }
        // "304 (and no body) while nothing changed".
        if (step.includes("If-None-Match")) expect(values, where).toEqual(["304"]);
      }
    }
  }, 180_000);

  it("Operating it: the health and reflection block works with reflection alone", async () => {
    const block = shellBlocks(section("Operating it")).find((text) => text.includes("--reflect"));
    expect(block, "Operating it has no block with --reflect").toBeDefined();
    const results = await runWalkthrough(stepsOf(block as string), folder, address);
    const printed = results.map((result) => result.output).join("\n");
    expect(printed).toContain("liveops.v1.EventService/GetEvent");
    expect(printed).toMatch(/"status":\s*"SERVING"/);
  }, 120_000);

  it("The first admin key: the keys CLI block creates keys and rotates and revokes the one it names", async () => {
    const block = shellBlocks(subsection("The first admin key")).find((text) => /npm run keys -- revoke/.test(text));
    expect(block, "The first admin key has no block that revokes a key").toBeDefined();
    const steps = stepsOf(block as string);
    // Where the README says the CLI finds PostgreSQL; on SQLite the default ./data/liveops.db is the server's file.
    const env: Record<string, string> = {};
    if (testBackend === "postgres") env.DATABASE_URL = (await backendEnv(dbPath)).DATABASE_URL as string;
    const script = `${scriptOf(steps, address)}printf '::var ID=%s\\n' "$ID"\n`;
    const { code, stdout, stderr } = await runBash(script, folder, env);
    expect(code, `the script failed:\n${stderr}\n${stdout}`).toBe(0);
    const id = /^::var ID=(.*)$/m.exec(stdout)?.[1];
    expect(id, `ID is not a key id:\n${stdout}`).toMatch(/^[0-9a-f]{16}$/);
    // Two creates and a rotation: three secrets, each shown once.
    expect(stdout.match(/^lo_[0-9a-f]{16}_\S+$/gm), stdout).toHaveLength(3);

    const answer = await fetch(`${server.baseUrl}/liveops.v1.ApiKeyService/GetApiKey`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.keys.admin}`, "content-type": "application/json" },
      body: JSON.stringify({ id }),
    });
    const { apiKey } = (await answer.json()) as { apiKey: Record<string, unknown> };
    expect(apiKey).toMatchObject({ id, name: "game-client", role: "ROLE_VIEWER" });
    expect(apiKey.rotateTime).toEqual(expect.any(String));
    expect(apiKey.revokeTime).toEqual(expect.any(String));
  }, 180_000);

  it("The first admin key: the --json block keeps a new key's secret with jq and lists the active keys", async () => {
    const block = shellBlocks(subsection("The first admin key")).find((text) => /--json \| jq -r \.key/.test(text));
    expect(block, "The first admin key has no block that keeps a key with --json and jq").toBeDefined();
    const env: Record<string, string> = {};
    if (testBackend === "postgres") env.DATABASE_URL = (await backendEnv(dbPath)).DATABASE_URL as string;
    const script = `${scriptOf(stepsOf(block as string), address)}printf '::var KEY=%s\\n' "$KEY"\n`;
    const { code, stdout, stderr } = await runBash(script, folder, env);
    expect(code, `the script failed:\n${stderr}\n${stdout}`).toBe(0);
    const key = /^::var KEY=(.*)$/m.exec(stdout)?.[1];
    expect(key, `KEY is not a key:\n${stdout}`).toMatch(/^lo_[0-9a-f]{16}_\S+$/);
    // The listing's line of the new key: its id, role and name; the block printed no secret (jq kept it).
    const printed = stdout.replace(/^::var KEY=.*$/m, "");
    expect(printed).toMatch(/^[0-9a-f]{16} viewer ci-smoke$/m);
    expect(printed).not.toContain(key);

    // The server accepts the key jq kept.
    const answer = await fetch(`${server.baseUrl}/events?page_size=1`, { headers: { authorization: `Bearer ${key}` } });
    expect(answer.status).toBe(200);
  }, 180_000);
});
