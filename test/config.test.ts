import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config.js";

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe("configuration", () => {
  it("has working defaults", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 8080,
      dbPath: "./data/liveops.db",
      dbSynchronous: "FULL",
      initialAdminKeyFile: "data/initial-admin-key",
      corsOrigins: [],
      maxMessageBytes: 4 * 1024 * 1024,
      maxConcurrentStreams: 100,
    });
  });

  it("puts the initial admin key beside the database", () => {
    expect(loadConfig({ DB_PATH: "/var/lib/liveops/db.sqlite" }).initialAdminKeyFile).toBe(
      "/var/lib/liveops/initial-admin-key",
    );
  });

  it("reports every bad value at once, one line each", () => {
    const problems = problemsOf({
      PORT: "80a",
      DB_SYNCHRONOUS: "OFF",
      CORS_ORIGINS: "https://ok.example.com, not-an-origin",
      MAX_CONCURRENT_STREAMS: "0",
      TLS_CERT_FILE: "cert.pem",
    });
    expect(problems).toHaveLength(5);
    expect(problems[0]).toMatch(/^PORT /);
    expect(problems.join("\n")).toContain("DB_SYNCHRONOUS must be one of FULL, NORMAL");
    expect(problems.join("\n")).toContain('"not-an-origin" is not an origin');
    expect(problems.join("\n")).toContain("MAX_CONCURRENT_STREAMS must be from 1 to 10000");
    expect(problems.join("\n")).toContain("TLS_CERT_FILE and TLS_KEY_FILE must be set together");
  });

  it("refuses a maximum deadline below the default one", () => {
    expect(problemsOf({ DEFAULT_DEADLINE_MS: "5000", MAX_DEADLINE_MS: "1000" })).toEqual([
      "MAX_DEADLINE_MS must not be below DEFAULT_DEADLINE_MS",
    ]);
  });
});
