import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { backendEnv, generousLimits } from "./server.js";

/** The real server in a child process (`node --import tsx src/main.ts`), for kill and restart tests. */
export interface ChildServer {
  child: ChildProcess;
  port: number;
  baseUrl: string;
  /** Everything the server printed so far. */
  output: string[];
  /** Resolves with the exit code (or signal name) once the process has ended. */
  exited: Promise<number | string>;
}

/**
 * Starts the server with `env` on an ephemeral port and waits until it listens: src/main.ts, or another entry of
 * the same shape (test/support/crash-mid-finalization.ts).
 */
export async function spawnServer(env: Record<string, string>, entry = "src/main.ts"): Promise<ChildServer> {
  // On PostgreSQL, the database that stands for the SQLite file the test names (the same one across restarts).
  const backend = env.DB_PATH !== undefined && env.DATABASE_URL === undefined ? await backendEnv(env.DB_PATH) : {};
  const child = spawn(process.execPath, ["--import", "tsx", entry], {
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", ...generousLimits, ...backend, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  const exited = once(child, "exit").then(([code, signal]) => (code ?? signal) as number | string);
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on("line", (line) => output.push(line));
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      output.push(line);
      try {
        const entry = JSON.parse(line) as { msg?: string; port?: number };
        if (entry.msg === "liveops listening" && entry.port) resolve(entry.port);
      } catch {
        // not a log line
      }
    });
    exited.then((code) => reject(new Error(`server exited (${code}) before listening:\n${output.join("\n")}`)));
  });
  return { child, port, baseUrl: `http://127.0.0.1:${port}`, output, exited };
}
