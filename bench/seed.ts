import { randomUUID } from "node:crypto";
import { LeaderboardOrder, ScoreOperator } from "../gen/liveops/v1/event_pb.js";
import { openDatabase } from "../src/db/database.js";
import { eventRuns, events } from "../src/db/schema.js";
import { createKeyStore } from "../src/keys/key-store.js";
import { leaderboardToJson } from "../src/leaderboards/leaderboard-config.js";

/**
 * Fills a new database with `count` events of realistic size, one competition live for a day, a viewer key and a
 * game_server key; returns one event's id, the competition's id and the keys.
 */
export function seedEvents(
  dbPath: string,
  count: number,
): { eventId: string; key: string; competitionId: string; gameServerKey: string } {
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
  const competitionId = randomUUID();
  const day = 24 * 3_600_000;
  database.db.transaction((tx) => {
    tx.insert(events)
      .values({
        id: competitionId,
        title: "Bench cup",
        description: "",
        startTime: now - day,
        endTime: now + day,
        rewards: "[]",
        leaderboard: leaderboardToJson({
          order: LeaderboardOrder.HIGHER_FIRST,
          operator: ScoreOperator.INCR,
          joinRequired: false,
          maxParticipants: 0,
          maxSubmissions: 0,
          prizeTiers: [],
        }),
        version: 1,
        createTime: now,
        updateTime: now,
      })
      .run();
    tx.insert(eventRuns)
      .values({
        eventId: competitionId,
        runNumber: 1,
        startTime: now - day,
        endTime: now + day,
        startAnnounced: true,
        endAnnounced: false,
      })
      .run();
  });
  const keys = createKeyStore(database.db);
  const actor = { actorKeyId: "bench", method: "bench seed", requestId: "" };
  const { key } = keys.createKey({ name: "bench", role: "viewer" }, now, actor);
  const gameServerKey = keys.createKey({ name: "bench game server", role: "game_server" }, now, actor).key;
  database.close();
  return { eventId: ids[Math.floor(ids.length / 2)] ?? "", key, competitionId, gameServerKey };
}
