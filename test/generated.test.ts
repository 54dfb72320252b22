import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const bin = (name: string) => join("node_modules", ".bin", name);
const scratch = mkdtempSync(join(tmpdir(), "liveops-generated-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function filesUnder(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else files.set(relative(dir, path), readFileSync(path, "utf8"));
    }
  };
  walk(dir);
  return files;
}

describe("generated code", () => {
  it("gen/ is what buf generate makes from proto/ now", () => {
    const out = join(scratch, "buf");
    execFileSync(bin("buf"), ["generate", "--output", out], { stdio: "pipe" });
    const fresh = filesUnder(join(out, "gen"));
    const committed = filesUnder("gen");
    expect([...committed.keys()].sort()).toEqual([...fresh.keys()].sort());
    for (const [path, text] of fresh)
      expect(committed.get(path), `gen/${path} is stale: run npm run generate`).toBe(text);
  });
});
