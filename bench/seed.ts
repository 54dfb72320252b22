import { randomUUID } from "node:crypto";
import { openDatabase } from "../src/db/database.js";
import { eventRuns, events } from "../src/db/schema.js";
import { createKeyStore } from "../src/keys/key-store.js";

/** Fills a new database with `count` events of realistic size and makes a viewer key; returns one event's id. */
export function seedEvents(dbPath: string, count: number): { eventId: string; key: string } {
  const database = openDatabase(dbPath);
  const now = Date.now();
  const ids: string[] = [];
  database.db.transaction((tx) => {
    for (let start = 0; start < count; start += 500) {
      const rows = [];
      const runs = [];
      for (let i = start; i < Math.min(count, start + 500); i++) {
        const id = randomUUID();
        ids.push(id);
        const begin = now + (i - count / 2) * 3_600_000;
        rows.push({
          id,
          title: `Weekend tournament ${i}`,
          description: "Climb the ladder, collect tokens and trade them for seasonal rewards. ".repeat(3),
          startTime: begin,
          endTime: begin + 48 * 3_600_000,
          rewards: JSON.stringify([
            { id: "gems", name: "Gems", quantity: "250" },
            { id: "chest.gold", name: "Gold chest", quantity: "1" },
            { id: "xp_boost", name: "XP boost", quantity: "3" },
          ]),
          metadata: JSON.stringify({ theme: "winter", minLevel: 10, regions: ["eu", "na"] }),
          version: 1,
          createTime: now,
          updateTime: now,
        });
        // Each one-off event's one run, as the service plans it.
        const end = begin + 48 * 3_600_000;
        runs.push({
          eventId: id,
          runNumber: 1,
          startTime: begin,
          endTime: end,
          startAnnounced: begin <= now,
          endAnnounced: end <= now,
        });
      }
      tx.insert(events).values(rows).run();
      tx.insert(eventRuns).values(runs).run();
    }
  });
  const { key } = createKeyStore(database.db).createKey({ name: "bench", role: "viewer" }, now, {
    actorKeyId: "bench",
    method: "bench seed",
    requestId: "",
  });
  database.close();
  return { eventId: ids[Math.floor(ids.length / 2)] ?? "", key };
}
