import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { decidePostgresTests } from "./postgres.js";

/** Whether `command args…` runs and exits 0 (a probe such as `openssl version`). */
export function commandRuns(command: string, args: string[] = ["--version"]): boolean {
  if (command.startsWith("/")) return existsSync(command);
  try {
    execFileSync(command, args, { stdio: "ignore", timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/** A system tool some tests need: its name, whether it is here (a probe such as commandRuns), how to install it. */
export interface SystemTool {
  name: string;
  present: boolean;
  install: string;
}

/**
 * For `describe.skipIf(skipWithoutTool(…))`, called while the file is collected: false when the system tool is
 * here; when it is missing, true after a warning naming the tool and its Debian package — except with `CI=true`,
 * where a skip would hide a broken setup, so it throws and the file fails (the rule of the PostgreSQL tests).
 */
export function skipWithoutTool(tool: SystemTool, tests: string): boolean {
  const missing = tool.present ? undefined : `${tool.name} is missing (${tool.install}; .ci/run installs it)`;
  const decision = decidePostgresTests(tests, missing, process.env);
  if (decision.action === "fail") throw new Error(decision.message);
  if (decision.action === "skip") console.warn(decision.message);
  return decision.action === "skip";
}
