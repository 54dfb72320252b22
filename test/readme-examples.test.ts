import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { loadDemo } from "../src/demo/load-demo.js";
import { realClock } from "./support/real-clock.js";
import { backendEnv, dropBackend, startTestServer, type TestServer } from "./support/server.js";
import { commandRuns, skipWithoutTool } from "./support/system-tools.js";

/*
 * The README's examples, run as written. The rules:
 * - "Try it with curl and buf curl": its shell blocks run in bash, in order, as one script (`set -eo pipefail`), in a
 *   folder whose data/initial-admin-key holds the admin key of a real server that `npm run demo`'s loader filled
 *   first (so `KEY=$(cat data/initial-admin-key)` is true as written), with `proto`, `buf.yaml` and `node_modules`
 *   of this repository beside it. The only change made to the text: `localhost:8080` becomes the server's address.
 * - A step is a paragraph of a block (its comment lines and its commands). A step whose comment says "Ctrl-C" is a
 *   stream that ends only when interrupted: it runs in the background in its own process group, which gets SIGINT
 *   (what Ctrl-C sends) once the stream printed EVENT_CHANGE_TYPE_SYNCED, or after a minute; a stream that ended by
 *   itself before must have exited 0.
 * - The script must exit 0; every variable it assigns must end non-empty (not jq's "null"); every step that prints
 *   must print something; what it prints must be JSON answers (or a bare id, from `echo`), none a Connect error or
 *   an empty answer (`{}`).
 * - "Run it" (up to "Run it on PostgreSQL"): its blocks install and start the service, so they are not run here;
 *   every `npm run <script>` they name must exist in package.json (the demo itself is tested in demo.test.ts).
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
/** A command line that prints (not an assignment, comment or continuation of one). */
const printsSomething = (step: string) => step.split("\n").some((line) => /^(curl|npx|echo)\b/.test(line));

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
        `until grep -q EVENT_CHANGE_TYPE_SYNCED "step-${i}.out" || [ "$SECONDS" -ge "$until_time" ]; do sleep 0.2; done`,
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

function runBash(script: string, cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    // npm_config_offline: npx must run the buf of node_modules, never fetch one.
    const child = spawn("bash", ["-c", script], {
      cwd,
      env: { ...process.env, npm_config_offline: "true", npm_config_update_notifier: "false" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", fail);
    child.on("close", (code) => done({ code, stdout, stderr }));
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

describe("README: Run it", () => {
  it("names only npm scripts that exist", () => {
    const blocks = shellBlocks(section("Run it", "\n### Run it on PostgreSQL"));
    expect(blocks.length).toBeGreaterThan(0);
    const named = blocks.flatMap((block) => [...block.matchAll(/npm run ([\w:-]+)/g)].map((m) => m[1]));
    expect(named).toContain("demo");
    for (const script of named) expect(packageScripts).toContain(script);
  });
});

describe.skipIf(skip)("README: Try it with curl and buf curl, run as written", () => {
  let folder: string;
  let dbPath: string;
  let server: TestServer;

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), "liveops-readme-"));
    const data = join(folder, "data");
    mkdirSync(data, { mode: 0o700 });
    for (const name of ["proto", "buf.yaml", "node_modules"]) symlinkSync(resolve(name), join(folder, name));
    dbPath = join(data, "liveops.db");
    // The demo first, as the README's "Run it" does: it writes data/initial-admin-key.
    const config = loadConfig({ ...(await backendEnv(dbPath)) });
    await loadDemo({ config, logger: pino({ level: "silent" }) });
    server = await startTestServer({}, { dir: data, clock: realClock });
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    rmSync(folder, { recursive: true, force: true });
    await dropBackend(dbPath);
  });

  it("runs every step with exit status 0, each printing JSON answers that are not errors", async () => {
    const steps = shellBlocks(section("Try it with curl and buf curl")).flatMap(stepsOf);
    expect(steps.some(isInterrupted)).toBe(true);
    const variables = assignedVariables(steps);
    expect(variables).toEqual(expect.arrayContaining(["KEY", "ID"]));
    const report = variables.map((name) => `printf '::var ${name}=%s\\n' "$${name}"`).join("\n");
    const { code, stdout, stderr } = await runBash(`${scriptOf(steps, `127.0.0.1:${server.port}`)}${report}\n`, folder);
    expect(code, `the script failed:\n${stderr}\n${stdout}`).toBe(0);

    for (const name of variables) {
      const value = new RegExp(`^::var ${name}=(.*)$`, "m").exec(stdout)?.[1];
      expect(value, `${name} is empty or null`).toMatch(/^(?!null$).+/);
    }
    const outputs = stdout.split(/^::step \d+$/m);
    steps.forEach((step, i) => {
      const output = outputs[i] ?? "";
      const values = valuesOf(output);
      const where = `step ${i + 1} (${step.split("\n")[0]}) printed:\n${output}`;
      if (printsSomething(step)) expect(values.length, where).toBeGreaterThan(0);
      for (const value of values) {
        // A bare word is what `echo "$ID"` prints; from anything else it is not an answer.
        if (typeof value === "string") expect(step, where).toMatch(/^echo /m);
        expect(value, where).not.toEqual({});
        if (typeof value === "object" && value !== null) expect(value, where).not.toHaveProperty("code");
      }
      if (isInterrupted(step)) expect(output, where).toContain("EVENT_CHANGE_TYPE_SYNCED");
    });
  }, 180_000);
});
