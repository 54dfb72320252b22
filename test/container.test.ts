import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

// No Docker engine runs on the build machines, so the Dockerfile is read for its essentials instead of built.
const dockerfile = readFileSync("Dockerfile", "utf8");
const stages = dockerfile.split(/^FROM /m).slice(1);
const runtime = stages.at(-1) ?? "";

describe("the Dockerfile", () => {
  it("builds in one stage and runs in a slim Node LTS stage", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage).toMatch(/^node:(20|22|24)[\w.-]*-slim AS \w+/);
    expect(stages[0]).toMatch(/g\+\+/);
    expect(runtime).not.toMatch(/apt-get install|g\+\+|python3/);
  });

  it("runs as a non-root user with /data as a volume, port 8080 and a health check", () => {
    expect(runtime).toMatch(/^USER (?!root)\w+/m);
    expect(runtime).toMatch(/^VOLUME \["\/data"\]/m);
    expect(runtime).toMatch(/^EXPOSE 8080$/m);
    expect(runtime).toMatch(/^HEALTHCHECK .*\n.*\/health\/ready/m);
    expect(runtime).toMatch(/^ENV [\s\S]*DB_PATH=\/data\/liveops\.db/m);
  });

  it("starts node directly so that SIGTERM reaches it", () => {
    expect(runtime).toMatch(/^CMD \["node", "dist\/src\/main\.js"\]$/m);
  });

  it("keeps local state out of the build context", () => {
    const ignored = readFileSync(".dockerignore", "utf8").split("\n");
    for (const entry of ["node_modules", "dist", "data", ".git"]) expect(ignored).toContain(entry);
  });
});
