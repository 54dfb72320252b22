import { randomUUID } from "node:crypto";
import { type SQL, sql } from "drizzle-orm";
import { LeaderboardOrder, ScoreOperator } from "../gen/liveops/v1/event_pb.js";
import type { Storage } from "../src/db/storage.js";
import { createKeyStore } from "../src/keys/key-store.js";
import { leaderboardToJson } from "../src/leaderboards/leaderboard-config.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** What a seed writes, chosen once so that every backend gets the same events with the same ids. */
/** The stored leaderboard of the benchmark's competitions: INCR, higher first, open to all, no limits. */
export const INCR_LEADERBOARD = leaderboardToJson({
  order: LeaderboardOrder.HIGHER_FIRST,
  operator: ScoreOperator.INCR,
  joinRequired: false,
  maxParticipants: 0,
  maxSubmissions: 0,
  prizeTiers: [],
});

export interface SeedPlan {
  now: number;
  /** The events' ids, in start-time order. */
  eventIds: string[];
  /** One event in the middle, the one GetEvent reads. */
  eventId: string;
  /** The competition live for a day, the one SubmitScore writes to. */
  competitionId: string;
  /** Another, the one whose scores the following measurement logs directly (bench/follow.ts). */
  followCompetitionId: string;
}

/** The API keys of one seeded database (each backend has its own). */
export interface SeedKeys {
  key: string;
  gameServerKey: string;
  operatorKey: string;
}

/** Chooses the ids and the time of `count` events of realistic size and one live competition. */
export function planSeed(count: number, now = Date.now()): SeedPlan {
  const eventIds = Array.from({ length: count }, () => randomUUID());
  return {
    now,
    eventIds,
    eventId: eventIds[Math.floor(count / 2)] ?? "",
    competitionId: randomUUID(),
    followCompetitionId: randomUUID(),
  };
}

/**
 * Fills a new database with the plan's events, its two competitions, and a viewer, a game_server and an operator key;
 * returns the keys.
 */
export async function seedEvents(storage: Storage, plan: SeedPlan): Promise<SeedKeys> {
  const { now, eventIds, competitionId } = plan;
  const count = eventIds.length;
  const rewards = JSON.stringify([
    { id: "gems", name: "Gems", quantity: "250" },
    { id: "chest.gold", name: "Gold chest", quantity: "1" },
    { id: "xp_boost", name: "XP boost", quantity: "3" },
  ]);
  const metadata = JSON.stringify({ theme: "winter", minLevel: 10, regions: ["eu", "na"] });
  const description = "Climb the ladder, collect tokens and trade them for seasonal rewards. ".repeat(3);
  for (let start = 0; start < count; start += 500) {
    const events: SQL[] = [];
    const runs: SQL[] = [];
    for (let i = start; i < Math.min(count, start + 500); i++) {
      const id = eventIds[i];
      const begin = now + (i - count / 2) * HOUR;
      const end = begin + 48 * HOUR;
      events.push(
        sql`(${id}, ${`Weekend tournament ${i}`}, ${description}, ${begin}, ${end}, ${rewards}, ${metadata}, 1, ${now}, ${now})`,
      );
      // Each one-off event's one run, as the service plans it.
      runs.push(sql`(${id}, 1, ${begin}, ${end}, ${begin <= now}, ${end <= now})`);
    }
    await storage.withTransaction(async (tx) => {
      await tx.run(sql`INSERT INTO events (id, title, description, start_time, end_time, rewards, metadata, version,
        create_time, update_time) VALUES ${sql.join(events, sql`, `)}`);
      await tx.run(sql`INSERT INTO event_runs (event_id, run_number, start_time, end_time, start_announced,
        end_announced) VALUES ${sql.join(runs, sql`, `)}`);
    });
  }
  const leaderboard = INCR_LEADERBOARD;
  for (const [id, title] of [
    [competitionId, "Bench cup"],
    [plan.followCompetitionId, "Bench follow cup"],
  ]) {
    await storage.withTransaction(async (tx) => {
      await tx.run(sql`INSERT INTO events (id, title, description, start_time, end_time, rewards, leaderboard, version,
        create_time, update_time)
        VALUES (${id}, ${title}, '', ${now - DAY}, ${now + DAY}, '[]', ${leaderboard}, 1, ${now}, ${now})`);
      await tx.run(sql`INSERT INTO event_runs (event_id, run_number, start_time, end_time, start_announced,
        end_announced) VALUES (${id}, 1, ${now - DAY}, ${now + DAY}, ${true}, ${false})`);
    });
  }
  const keys = createKeyStore(storage);
  const actor = { actorKeyId: "bench", method: "bench seed", requestId: "" };
  const keyOf = async (name: string, role: "viewer" | "game_server" | "operator") =>
    (await keys.createKey({ name, role }, now, actor)).key;
  return {
    key: await keyOf("bench", "viewer"),
    gameServerKey: await keyOf("bench game server", "game_server"),
    operatorKey: await keyOf("bench operator", "operator"),
  };
}
