import { sql } from "drizzle-orm";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ClusterChange, createClusterChanges } from "../src/cluster/cluster-changes.js";
import { until } from "./support/instances.js";
import { backendEnv, startTestServer, type TestServer, testBackend } from "./support/server.js";

// The cluster change log read the way every instance reads it, on a real database (both backends).

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ CHANGE_POLL_MS: "100", CLUSTER_CHANGES_RETAIN_MS: "10000" });
});
afterAll(() => server?.close());

const log = () => createClusterChanges(server.app.storage.reads);

/** Appends a change through the storage port, as a store does. */
async function append(subject: string, at = server.clock.now()) {
  await server.app.storage.withTransaction(async (tx) => {
    await tx.run(
      sql`INSERT INTO cluster_changes (time, kind, subject, body) VALUES (${at}, 'counter', ${subject}, '{}')`,
    );
  });
}

async function readAll(cursor: string) {
  const page = await log().after(cursor, 1000);
  if (page.kind !== "ok") throw new Error(`the log says ${page.kind}`);
  return { subjects: page.changes.map((c: ClusterChange) => c.subject), cursor: page.cursor };
}

describe("the cluster change log", () => {
  it("gives each change once, in the reads after its commit", async () => {
    let cursor = await log().latest();
    await append("one");
    await append("two");
    const first = await readAll(cursor);
    expect(first.subjects).toEqual(["one", "two"]);
    cursor = first.cursor;
    expect((await readAll(cursor)).subjects).toEqual([]);
    await append("three");
    expect((await readAll(cursor)).subjects).toEqual(["three"]);
  });

  it("prunes what is older than the cutoff, and only that", async () => {
    const cursor = await log().latest();
    await append("old", server.clock.now() - 60_000);
    await append("new");
    let pruned = 0;
    for (let batch = -1; batch !== 0; pruned += batch) {
      batch = await server.app.storage.withTransaction((tx) => log().prune(tx, server.clock.now() - 30_000));
    }
    expect(pruned).toBeGreaterThanOrEqual(1);
    expect((await readAll(cursor)).subjects).toEqual(["new"]);
  });

  it("tells a reader that more changes wait than one read takes", async () => {
    const cursor = await log().latest();
    for (let i = 0; i < 3; i++) await append(`many ${i}`);
    expect(await log().after(cursor, 2)).toMatchObject({ kind: "behind" });
    expect((await log().after(cursor, 3)).kind).toBe("ok");
  });

  it("is read by the server even when nobody wakes it (a lost NOTIFY): within its poll interval", async () => {
    const counted = () =>
      server.app.metrics.changesRead
        .get()
        .then((metric) => metric.values.find((v) => v.labels.kind === "counter")?.value ?? 0);
    const before = await counted();
    // Written beside the server, as another instance whose wake-up was lost would.
    if (testBackend === "postgres") {
      const client = new pg.Client({ connectionString: (await backendEnv(server.dbPath)).DATABASE_URL });
      await client.connect();
      await client.query(
        "INSERT INTO cluster_changes (time, kind, subject, body) VALUES ($1, 'counter', 'quiet', '{}')",
        [server.clock.now()],
      );
      await client.end();
    } else {
      await server.app.storage.withTransaction(async (tx) => {
        await tx.run(
          sql`INSERT INTO cluster_changes (time, kind, subject, body) VALUES (${server.clock.now()}, 'counter', 'quiet', '{}')`,
        );
      });
    }
    await until("the server reads the change", async () => (await counted()) > before, 2000);
  });
});

describe.skipIf(testBackend !== "postgres")("the cluster change log on PostgreSQL", () => {
  it("skips no change whose transaction took its id first and committed last", async () => {
    const url = (await backendEnv(server.dbPath)).DATABASE_URL as string;
    const [early, late] = [new pg.Client({ connectionString: url }), new pg.Client({ connectionString: url })];
    await Promise.all([early.connect(), late.connect()]);
    try {
      let cursor = await log().latest();
      const insert = (client: pg.Client, subject: string) =>
        client.query("INSERT INTO cluster_changes (time, kind, subject, body) VALUES (0, 'counter', $1, '{}')", [
          subject,
        ]);
      await early.query("BEGIN");
      await insert(early, "first id, committed last");
      await late.query("BEGIN");
      await insert(late, "second id, committed first");
      await late.query("COMMIT");
      const first = await readAll(cursor);
      expect(first.subjects).toEqual(["second id, committed first"]);
      cursor = first.cursor;
      await early.query("COMMIT");
      expect((await readAll(cursor)).subjects).toEqual(["first id, committed last"]);
    } finally {
      await Promise.all([early.end(), late.end()]);
    }
  });

  it("does not wait for an unrelated transaction that stays open", async () => {
    const url = (await backendEnv(server.dbPath)).DATABASE_URL as string;
    const open = new pg.Client({ connectionString: url });
    await open.connect();
    try {
      const cursor = await log().latest();
      await open.query("BEGIN");
      await open.query("SELECT pg_current_xact_id()");
      await append("while another transaction is open");
      expect((await readAll(cursor)).subjects).toEqual(["while another transaction is open"]);
    } finally {
      await open.query("ROLLBACK");
      await open.end();
    }
  });
});
