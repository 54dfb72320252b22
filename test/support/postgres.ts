import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import { POSTGRES_INSTALL_HINT } from "./postgres-cluster.js";

/** A database of its own for one test file (or test), on the test run's PostgreSQL server. */
export interface TestDatabase {
  name: string;
  /** Connection URL of this database, as the superuser. */
  url: string;
  /** Ends every connection to it and drops it. */
  drop(): Promise<void>;
}

/** What PostgreSQL tests do on this run: run, skip with a warning, or fail with the message. */
export type PostgresTestsDecision = { action: "run" } | { action: "skip" | "fail"; message: string };

/** Whether the test run has a PostgreSQL server: the one test/support/postgres-cluster.ts started, or the given one. */
export function postgresAvailable(): boolean {
  return inject("postgresAdminUrl") !== undefined;
}

/** Why there is no server (with what to install), or undefined when there is one. */
function unavailableReason(): string | undefined {
  if (postgresAvailable()) return undefined;
  return inject("postgresUnavailable") ?? `no server was provided (${POSTGRES_INSTALL_HINT})`;
}

/**
 * The skip rule: without a server (`unavailable` says why), PostgreSQL tests are skipped with a message saying what
 * to install, except in CI (`CI=true`), where a skip would hide a broken setup, so they fail.
 */
export function decidePostgresTests(
  what: string,
  unavailable: string | undefined,
  env: Record<string, string | undefined>,
): PostgresTestsDecision {
  if (unavailable === undefined) return { action: "run" };
  if (env.CI === "true") return { action: "fail", message: `${what} cannot run in CI: ${unavailable}` };
  return { action: "skip", message: `${what} skipped: ${unavailable}` };
}

/**
 * For `describe.skipIf(skipWithoutPostgres("…"))`, called while the file is collected: true (after a warning) when
 * there is no server; in CI it throws instead, failing the file.
 */
export function skipWithoutPostgres(what: string): boolean {
  const decision = decidePostgresTests(what, unavailableReason(), process.env);
  if (decision.action === "fail") throw new Error(decision.message);
  if (decision.action === "skip") console.warn(decision.message);
  return decision.action === "skip";
}

/** Creates an empty database with a name of its own on the test run's server. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = inject("postgresAdminUrl");
  if (adminUrl === undefined) throw new Error(`no PostgreSQL server for the tests: ${unavailableReason()}`);
  // Lower case, so that it needs no quoting in psql; the pid and random part keep parallel files apart.
  const name = `liveops_test_${process.pid}_${randomBytes(6).toString("hex")}`;
  await asAdmin(adminUrl, `CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    // FORCE ends the database's sessions first (pools the test left open, child servers' connections).
    drop: () => asAdmin(adminUrl, `DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`),
  };
}

async function asAdmin(adminUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  // A connection error is reported by the query; without a listener it would also crash the worker.
  client.on("error", () => undefined);
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
