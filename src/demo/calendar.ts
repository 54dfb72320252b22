import type { JsonObject, MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { type EventSchema, LeaderboardOrder, ScoreOperator } from "../../gen/liveops/v1/event_pb.js";
import { instantOf, wallClockOf } from "../events/recurrence-zone.js";

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

/** How far back the demo's history starts: long enough for four runs of a weekly tournament. */
export const HISTORY_DAYS = 30;

/** A player of the demo, with the properties its audiences select on. */
export interface DemoPlayer {
  id: string;
  country: string;
  platform: string;
  level: number;
  /** How well it plays (0–1): the same players lead every board, as in a real game. */
  skill: number;
}

/** An audience of the demo (AudienceService.CreateAudience). */
export interface DemoAudience {
  name: string;
  description: string;
  expression: string;
}

/** An event of the calendar, by the key its moments name it with. */
export interface CalendarEvent {
  key: string;
  event: MessageInitShape<typeof EventSchema>;
}

/** Something a game server or a player does at a moment of the calendar's history. */
export type Moment =
  | { at: number; kind: "score"; event: string; playerId: string; score: bigint }
  | { at: number; kind: "counter"; event: string; name: string; delta: bigint }
  /** Winners of a finished run claim their prizes: those at `ranks`. */
  | { at: number; kind: "claim"; event: string; runNumber: bigint; ranks: number[] };

/** The whole demo: when its history starts, what it holds, and what happens, in time order. */
export interface Calendar {
  start: number;
  players: DemoPlayer[];
  audiences: DemoAudience[];
  events: CalendarEvent[];
  moments: Moment[];
}

const NAMES = `anna jules lena marie kenji sofia mateo liam yuki noah emma lucas mia leon chloe hugo ida oskar elena
  marco aiko diego nora felix zoe ravi maja theo clara sven ines pablo hana jonas lucia arjun freya milo sara tomas
  eva ali rosa kai lina omar vera finn amira bruno`.split(/\s+/);
const COUNTRIES = ["DE", "FR", "GB", "ES", "PL", "SE", "IT", "NL", "US", "BR", "JP", "KR", "IN", "CA"];
const EUROPE = COUNTRIES.slice(0, 8);
const PLATFORMS = ["ios", "android", "pc"];

/** The weekly tournament's zone: its runs stay at 18:00 local time across daylight-saving changes. */
const CUP_ZONE = "Europe/Berlin";

/** A small seeded generator (mulberry32): the same demo every time, up to the dates. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const gems = (quantity: number) => ({ id: "gems", name: "Gems", quantity: BigInt(quantity) });
const item = (id: string, name: string) => ({ id, name, quantity: 1n });
const at = (ms: number) => timestampFromMs(ms);

/** The instant of the first Sunday 18:00 in {@link CUP_ZONE} at or after `from`. */
function firstSundayEvening(from: number): number {
  const wall = wallClockOf(CUP_ZONE, from);
  const day = Math.floor(wall / DAY_MS) * DAY_MS;
  let candidate = day + ((7 - new Date(day).getUTCDay()) % 7) * DAY_MS + 18 * HOUR_MS;
  if (candidate < wall) candidate += 7 * DAY_MS;
  return instantOf(CUP_ZONE, candidate);
}

/** The first Saturday 00:00 UTC at or after `from`. */
function firstSaturday(from: number): number {
  const day = Math.ceil(from / DAY_MS) * DAY_MS;
  return day + ((6 - new Date(day).getUTCDay() + 7) % 7) * DAY_MS;
}

/**
 * Plans a believable live-ops calendar around `now`: a live championship, a weekly tournament in Berlin time with
 * past runs, daily and weekend events, a festival that ended and one to come. Every time is relative to `now`.
 */
export function planCalendar(now: number, seed = 18): Calendar {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const between = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));
  const today = Math.floor(now / DAY_MS) * DAY_MS;
  const start = today - HISTORY_DAYS * DAY_MS;

  const players: DemoPlayer[] = NAMES.map((id, i) => ({
    id,
    // Every other player in Europe, so that the European tournament has a full field.
    country: i % 2 === 0 ? (EUROPE[i % EUROPE.length] as string) : pick(COUNTRIES),
    platform: pick(PLATFORMS),
    level: between(3, 60),
    skill: random(),
  }));
  const audiences: DemoAudience[] = [
    {
      name: "europe",
      description: "Players in Europe, by the country their game reports",
      expression: `player.properties.country in [${EUROPE.map((c) => `"${c}"`).join(", ")}]`,
    },
    { name: "veterans", description: "Level 30 and up", expression: "player.properties.level >= 30" },
  ];

  const arenaStart = Math.floor(now / HOUR_MS) * HOUR_MS - 3 * DAY_MS;
  const cupFirst = firstSundayEvening(start + DAY_MS);
  const harvestStart = start + 3 * DAY_MS + 10 * HOUR_MS;
  const harvestEnd = harvestStart + 14 * DAY_MS;
  const winterStart = today + 12 * DAY_MS;
  const events: CalendarEvent[] = [
    {
      key: "arena",
      event: {
        title: "Arena Championship — Season 4",
        description: "A week of ranked arena matches: the best score of each player counts.",
        startTime: at(arenaStart),
        endTime: at(arenaStart + 7 * DAY_MS),
        metadata: { mode: "ranked", season: 4 } satisfies JsonObject,
        leaderboard: {
          order: LeaderboardOrder.HIGHER_FIRST,
          scoreOperator: ScoreOperator.BEST,
          prizeTiers: [
            { rankFrom: 1, rankTo: 1, rewards: [gems(2000), item("legendary-chest", "Legendary Chest")] },
            { rankFrom: 2, rankTo: 3, rewards: [gems(1000), item("epic-chest", "Epic Chest")] },
            { rankFrom: 4, rankTo: 10, rewards: [gems(500)] },
            { rankFrom: 11, rankTo: 25, rewards: [gems(100)] },
          ],
        },
      },
    },
    {
      key: "cup",
      event: {
        title: "Sunday Cup",
        description: "Two hours of sprint races every Sunday at 18:00 Berlin time, for European players.",
        startTime: at(cupFirst),
        recurrence: {
          rule: "FREQ=WEEKLY;BYDAY=SU;BYHOUR=18",
          runDuration: durationFromMs(2 * HOUR_MS),
          timeZone: CUP_ZONE,
        },
        audiences: ["europe"],
        leaderboard: {
          order: LeaderboardOrder.HIGHER_FIRST,
          scoreOperator: ScoreOperator.BEST,
          prizeTiers: [
            { rankFrom: 1, rankTo: 1, rewards: [gems(500), item("cup-trophy", "Golden Cup")] },
            { rankFrom: 2, rankTo: 3, rewards: [gems(200)] },
            { rankFrom: 4, rankTo: 10, rewards: [gems(50)] },
          ],
        },
      },
    },
    {
      key: "login",
      event: {
        title: "Daily Login Bonus",
        description: "Log in once a day for 100 coins.",
        startTime: at(start + DAY_MS),
        recurrence: { rule: "FREQ=DAILY", runDuration: durationFromMs(DAY_MS) },
        rewards: [{ id: "coins", name: "Coins", quantity: 100n }],
      },
    },
    {
      key: "double-xp",
      event: {
        title: "Double XP Weekend",
        description: "Twice the experience from every match, all weekend.",
        startTime: at(firstSaturday(start + DAY_MS)),
        recurrence: { rule: "FREQ=WEEKLY;BYDAY=SA", runDuration: durationFromMs(2 * DAY_MS) },
        metadata: { xp_multiplier: 2 } satisfies JsonObject,
      },
    },
    {
      key: "harvest",
      event: {
        title: "Harvest Festival",
        description: "Collect pumpkins across the map; the whole community fills the barn together.",
        startTime: at(harvestStart),
        endTime: at(harvestEnd),
        rewards: [{ id: "scarecrow-skin", name: "Scarecrow Skin", quantity: 1n }],
        metadata: { theme: "autumn" } satisfies JsonObject,
      },
    },
    {
      key: "winter",
      event: {
        title: "Winter Festival",
        description: "Collect snowflakes for the festival's skins and a snowy map.",
        startTime: at(winterStart),
        endTime: at(winterStart + 21 * DAY_MS),
        rewards: [{ id: "snowflakes", name: "Snowflakes", quantity: 250n }],
        metadata: { theme: "snow" } satisfies JsonObject,
      },
    },
  ];

  const moments: Moment[] = [];
  const score = (player: DemoPlayer, scale: number) =>
    BigInt(Math.round(scale * (0.55 + 0.45 * player.skill * random())));

  // The Sunday Cup's runs so far: the European players race; winners claim their prizes over the next day.
  const racers = players.filter((p) => EUROPE.includes(p.country));
  for (let run = 1, runStart = cupFirst; runStart < now; run++) {
    const runEnd = runStart + 2 * HOUR_MS;
    for (const player of racers) {
      if (random() < 0.2) continue; // not everyone turns up every week
      for (let race = between(1, 3); race > 0; race--) {
        const time = runStart + between(5, 115) * MINUTE_MS;
        if (time < now)
          moments.push({ at: time, kind: "score", event: "cup", playerId: player.id, score: score(player, 5000) });
      }
    }
    const claimAt = runEnd + between(3, 20) * HOUR_MS;
    const ranks = Array.from({ length: 10 }, (_, i) => i + 1).filter(() => random() < 0.6);
    if (claimAt < now) moments.push({ at: claimAt, kind: "claim", event: "cup", runNumber: BigInt(run), ranks });
    runStart = instantOf(CUP_ZONE, wallClockOf(CUP_ZONE, runStart) + 7 * DAY_MS);
  }

  // The live championship: every player, a few matches each, since it started three days ago.
  for (const player of players) {
    for (let match = between(1, 4); match > 0; match--) {
      const time = arenaStart + between(10, Math.max(10, Math.floor((now - arenaStart) / MINUTE_MS) - 1)) * MINUTE_MS;
      moments.push({ at: time, kind: "score", event: "arena", playerId: player.id, score: score(player, 25_000) });
    }
  }
  for (let time = arenaStart + 6 * HOUR_MS; time < now; time += 6 * HOUR_MS) {
    moments.push({
      at: time,
      kind: "counter",
      event: "arena",
      name: "matches_played",
      delta: BigInt(between(150, 400)),
    });
  }
  for (let day = start + DAY_MS + 12 * HOUR_MS; day < now; day += DAY_MS) {
    moments.push({ at: day, kind: "counter", event: "login", name: "logins", delta: BigInt(between(900, 1500)) });
  }
  for (let day = harvestStart + 10 * HOUR_MS; day < harvestEnd; day += DAY_MS) {
    moments.push({
      at: day,
      kind: "counter",
      event: "harvest",
      name: "pumpkins_collected",
      delta: BigInt(between(5000, 9000)),
    });
  }
  moments.sort((a, b) => a.at - b.at);
  return { start, players, audiences, events, moments };
}
