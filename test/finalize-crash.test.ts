import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { afterAll, describe, expect, it } from "vitest";
import { type ChildServer, spawnServer } from "./support/child-server.js";
import { competitionClients, leaderboard } from "./support/competition.js";
import { storedRows } from "./support/server.js";

const dir = mkdtempSync(join(tmpdir(), "liveops-finalize-"));
const dbPath = join(dir, "liveops.db");
const children: ChildServer[] = [];
afterAll(() => {
  for (const child of children) child.child.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});
const start = async (entry?: string) => {
  const child = await spawnServer({ DB_PATH: dbPath }, entry);
  children.push(child);
  return child;
};
const grantRows = () =>
  storedRows<{ player_id: string; rank: number }>(dbPath, "SELECT player_id, rank FROM reward_grants ORDER BY rank");

/** The rows `read` gives once there are any. */
async function eventuallyRows<T>(read: () => Promise<T[]>, timeoutMs: number): Promise<T[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await read();
    if (rows.length > 0 || Date.now() > deadline) return rows;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("finalization after a crash", () => {
  it("grants every reward exactly once when the server is SIGKILLed in the middle of finalizing", {
    timeout: 60_000,
  }, async () => {
    // The first server kills itself (SIGKILL) halfway through writing the grants of the run.
    const first = await start("test/support/crash-mid-finalization.ts");
    const key = readFileSync(join(dir, "initial-admin-key"), "utf8").trim();
    const clients = competitionClients(first.baseUrl, key);
    const now = Date.now();
    const { event } = await clients.admin.createEvent({
      event: {
        title: "Crash cup",
        startTime: timestampFromMs(now - 1000),
        endTime: timestampFromMs(now + 3000),
        leaderboard: leaderboard({
          prizeTiers: [{ rankFrom: 1, rankTo: 40, rewards: [{ id: "gem", name: "Gem", quantity: 1n }] }],
        }),
      },
    });
    const id = event?.id ?? "";
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        clients.boards.submitScore({ eventId: id, playerId: `crash-${i}`, score: BigInt(i) }),
      ),
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${first.output.join("\n")}`);
    });
    expect(await first.exited).toBe("SIGKILL");
    expect(await grantRows()).toEqual([]);

    // After a restart the scheduler finalizes the run: 40 grants, one per winner.
    const second = await start();
    const grants = await eventuallyRows(grantRows, 20_000);
    expect(grants).toHaveLength(40);
    expect(new Set(grants.map((g) => g.player_id)).size).toBe(40);
    expect(grants.map((g) => g.rank)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(grants[0]?.player_id).toBe("crash-49");
    const listed = await competitionClients(second.baseUrl, key).rewards.listRewardGrants({ playerId: "crash-49" });
    expect(listed.grants).toHaveLength(1);
    second.child.kill("SIGTERM");
    await second.exited;

    // And another restart changes nothing.
    const third = await start();
    third.child.kill("SIGTERM");
    await third.exited;
    expect(await grantRows()).toHaveLength(40);
  });
});
