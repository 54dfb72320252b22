import { describe, expect, it } from "vitest";
import { ConfigError, flagsToEnv, loadConfig } from "../src/config.js";
import { postgresConnection } from "../src/db/postgres-url.js";

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

  it("uses SQLite unless DATABASE_URL is set, and PostgreSQL pool defaults otherwise", () => {
    expect(loadConfig({})).toMatchObject({
      databaseUrl: undefined,
      dbPoolSize: 10,
      dbConnectTimeoutMs: 5000,
      dbStatementTimeoutMs: 10000,
      dbSslMode: undefined,
    });
    expect(loadConfig({ DATABASE_URL: "postgresql://app:pw@db.internal:5432/liveops" }).databaseUrl).toBe(
      "postgresql://app:pw@db.internal:5432/liveops",
    );
  });

  it("takes the database URL as --database-url, like every setting", () => {
    expect(flagsToEnv(["--database-url", "postgres://db/liveops", "--db-pool-size", "20"])).toEqual({
      DATABASE_URL: "postgres://db/liveops",
      DB_POOL_SIZE: "20",
    });
  });

  it("refuses a DATABASE_URL that is not a PostgreSQL URL, without repeating it", () => {
    const [wrongScheme] = problemsOf({ DATABASE_URL: "mysql://root:hunter2@db/liveops" });
    expect(wrongScheme).toMatch(/^DATABASE_URL must be a postgres:\/\/ or postgresql:\/\/ URL/);
    expect(wrongScheme).not.toContain("hunter2");
    expect(problemsOf({ DATABASE_URL: "./data/liveops.db" })).toEqual(["DATABASE_URL is not a valid URL"]);
  });

  it("refuses bad pool sizes and timeouts", () => {
    const problems = problemsOf({ DB_POOL_SIZE: "0", DB_CONNECT_TIMEOUT_MS: "5s", DB_STATEMENT_TIMEOUT_MS: "-1" });
    expect(problems).toHaveLength(3);
    expect(problems[0]).toBe("DB_POOL_SIZE must be from 1 to 1000, got 0");
    expect(problems[1]).toMatch(/^DB_CONNECT_TIMEOUT_MS must be a whole number/);
    expect(problems[2]).toMatch(/^DB_STATEMENT_TIMEOUT_MS must be a whole number/);
    expect(problemsOf({ DB_POOL_SIZE: "1001" })).toEqual(["DB_POOL_SIZE must be from 1 to 1000, got 1001"]);
  });

  it("takes TLS from DB_SSL_MODE or the URL's sslmode, and refuses the two disagreeing", () => {
    const url = "postgres://db/liveops";
    expect(loadConfig({ DATABASE_URL: url, DB_SSL_MODE: "verify-full" }).dbSslMode).toBe("verify-full");
    expect(loadConfig({ DATABASE_URL: `${url}?sslmode=require`, DB_SSL_MODE: "require" }).dbSslMode).toBe("require");
    expect(problemsOf({ DATABASE_URL: `${url}?sslmode=verify-full`, DB_SSL_MODE: "require" })).toEqual([
      'DB_SSL_MODE "require" disagrees with the URL\'s sslmode "verify-full": set one of them, or the same mode',
    ]);
    expect(postgresConnection(`${url}?sslmode=verify-full&application_name=x`)).toEqual({
      value: { connectionString: `${url}?application_name=x`, sslMode: "verify-full" },
    });
    expect(postgresConnection(url)).toEqual({ value: { connectionString: url, sslMode: "disable" } });
  });

  it("refuses the TLS modes node-postgres cannot honour", () => {
    expect(problemsOf({ DB_SSL_MODE: "prefer" })[0]).toMatch(
      /^DB_SSL_MODE "prefer" is not supported: use disable, require, verify-full/,
    );
    expect(problemsOf({ DATABASE_URL: "postgres://db/liveops?sslmode=verify-ca" })[0]).toMatch(
      /^DATABASE_URL sslmode "verify-ca" is not supported/,
    );
    expect(problemsOf({ DATABASE_URL: "postgres://db/liveops?sslrootcert=/ca.pem" })[0]).toMatch(
      /^DATABASE_URL URL parameter "sslrootcert" is not supported/,
    );
  });
});
