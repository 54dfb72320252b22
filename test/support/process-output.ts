import { type SpawnOptions, spawn } from "node:child_process";

/** What a finished process printed, and its exit code. */
export interface ProcessOutput {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `command args…` to its end (stdin closed), collecting what it prints. */
export function runProcess(command: string, args: string[], options: SpawnOptions = {}): Promise<ProcessOutput> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", fail);
    child.on("close", (code) => done({ code, stdout, stderr }));
  });
}
