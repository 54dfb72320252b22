import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventService } from "../gen/liveops/v1/event_service_pb.js";
import { LeaderboardService } from "../gen/liveops/v1/leaderboard_service_pb.js";
import { bearer } from "./support/clients.js";
import { competitionClients, leaderboard } from "./support/competition.js";
import { startTestServer, type TestServer } from "./support/server.js";
import { eventually, watchEvents } from "./support/watch.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

let server: TestServer;
beforeAll(async () => {
  // Every scrape reads the state afresh (the default reuses a read for 5 s: see the test of that below).
  server = await startTestServer({ METRICS_STATE_MAX_AGE_MS: "0" });
});
afterAll(() => server.close());

/** The samples of one /metrics scrape, by `name{labels}` as written (labels in prom-client's order). */
async function scrape(): Promise<Map<string, number>> {
  const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

/** Scrapes until `condition` holds of a scrape (the server sees a client go a moment after it went). */
async function scrapeUntil(condition: (samples: Map<string, number>) => boolean, what: string) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const samples = await scrape();
    if (condition(samples)) return samples;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A sample's value, 0 when the scrape has none (a labelled child not made yet). */
const sampleOf = (samples: Map<string, number>, key: string) => samples.get(key) ?? 0;

/** How each of `keys` moved from `before` to `after`. */
function moved(before: Map<string, number>, after: Map<string, number>, keys: string[]): Record<string, number> {
  return Object.fromEntries(keys.map((k) => [k, sampleOf(after, k) - sampleOf(before, k)]));
}

describe("business metrics", () => {
  it("count runs started and ended, boards finalized, scores by outcome, grants given and claims made", async () => {
    const operator = competitionClients(server.baseUrl, server.keys.operator);
    const game = competitionClients(server.baseUrl, server.keys.game_server);
    const start = server.clock.now() + MINUTE;
    const prizeTiers = [{ rankFrom: 1, rankTo: 2, rewards: [{ id: "coin", name: "Coin", quantity: 5n }] }];
    const { event } = await operator.admin.createEvent({
      event: {
        title: "Metric cup",
        startTime: timestampFromMs(start),
        endTime: timestampFromMs(start + HOUR),
        leaderboard: leaderboard({ prizeTiers, maxSubmissions: 1 }),
      },
    });
    const id = event?.id ?? "";
    const counters = [
      "liveops_runs_started_total",
      "liveops_runs_ended_total",
      "liveops_boards_finalized_total",
      'liveops_scores_submitted_total{outcome="accepted"}',
      'liveops_scores_submitted_total{outcome="rejected"}',
      "liveops_reward_grants_total",
      "liveops_reward_claims_total",
    ];
    const before = await scrape();

    // Not live yet: refused.
    await game.boards.submitScore({ eventId: id, playerId: "m-a", score: 1n }).catch(() => undefined);
    server.clock.set(start);
    await server.app.scheduler.idle();
    await eventually(() => server.logs.some((l) => l.msg === "run started" && l.event_id === id), "the start");
    await game.boards.submitScore({ eventId: id, playerId: "m-a", score: 3n });
    await game.boards.submitScore({ eventId: id, playerId: "m-b", score: 2n });
    await game.boards.submitScore({ eventId: id, playerId: "m-c", score: 1n });
    // Over the run's one submission: refused.
    await game.boards.submitScore({ eventId: id, playerId: "m-a", score: 9n }).catch(() => undefined);
    expect(moved(before, await scrape(), counters)).toEqual({
      liveops_runs_started_total: 1,
      liveops_runs_ended_total: 0,
      liveops_boards_finalized_total: 0,
      'liveops_scores_submitted_total{outcome="accepted"}': 3,
      'liveops_scores_submitted_total{outcome="rejected"}': 2,
      liveops_reward_grants_total: 0,
      liveops_reward_claims_total: 0,
    });

    server.clock.set(start + HOUR);
    await server.app.scheduler.idle();
    // The grants are counted once the finalization has committed and been read back.
    await eventually(() => server.logs.some((l) => l.msg === "board finalized" && l.event_id === id), "the board");
    const { grants } = await game.rewards.listRewardGrants({ eventId: id });
    expect(grants).toHaveLength(2);
    for (const grant of grants) {
      await game.rewards.claimReward({ grantId: grant.id });
      await game.rewards.claimReward({ grantId: grant.id }); // a repeat is no new claim
    }
    expect(moved(before, await scrape(), counters)).toEqual({
      liveops_runs_started_total: 1,
      liveops_runs_ended_total: 1,
      liveops_boards_finalized_total: 1,
      'liveops_scores_submitted_total{outcome="accepted"}': 3,
      'liveops_scores_submitted_total{outcome="rejected"}': 2,
      liveops_reward_grants_total: 2,
      liveops_reward_claims_total: 2,
    });
  });

  it("gauge the events by status and the live boards with their sizes, as the database has them now", async () => {
    const operator = competitionClients(server.baseUrl, server.keys.operator);
    const game = competitionClients(server.baseUrl, server.keys.game_server);
    const start = server.clock.now() + MINUTE;
    const created = [];
    for (const title of ["Big board", "Small board"]) {
      const { event } = await operator.admin.createEvent({
        event: {
          title,
          startTime: timestampFromMs(start),
          endTime: timestampFromMs(start + HOUR),
          leaderboard: leaderboard(),
        },
      });
      created.push(event?.id ?? "");
    }
    const [big = "", small = ""] = created;
    const gauges = [
      'liveops_events{status="upcoming"}',
      'liveops_events{status="active"}',
      'liveops_events{status="ended"}',
      "liveops_live_boards",
      "liveops_live_board_entries",
    ];
    const upcoming = await scrape();
    server.clock.set(start);
    for (let i = 0; i < 5; i++) await game.boards.submitScore({ eventId: big, playerId: `g-${i}`, score: 1n });
    await game.boards.joinEvent({ eventId: small, playerId: "g-0" });
    const live = await scrape();
    expect(moved(upcoming, live, gauges)).toEqual({
      'liveops_events{status="upcoming"}': -2,
      'liveops_events{status="active"}': 2,
      'liveops_events{status="ended"}': 0,
      liveops_live_boards: 2,
      liveops_live_board_entries: 6,
    });
    expect(sampleOf(live, "liveops_live_board_entries_max")).toBeGreaterThanOrEqual(5);

    server.clock.set(start + HOUR);
    await server.app.scheduler.idle();
    expect(moved(upcoming, await scrape(), gauges)).toEqual({
      'liveops_events{status="upcoming"}': -2,
      'liveops_events{status="active"}': 0,
      'liveops_events{status="ended"}': 2,
      liveops_live_boards: 0,
      liveops_live_board_entries: 0,
    });
  });
});

describe("the state gauges' read", () => {
  it("is reused by the scrapes within METRICS_STATE_MAX_AGE_MS, so frequent scrapes cost the database nothing", async () => {
    const reusing = await startTestServer({ METRICS_STATE_MAX_AGE_MS: "3600000" });
    try {
      const upcoming = 'liveops_events{status="upcoming"}';
      const count = async () => {
        const text = await (await fetch(`${reusing.baseUrl}/metrics`)).text();
        return Number(/^liveops_events\{status="upcoming"\} (\d+)$/m.exec(text)?.[1] ?? 0);
      };
      const before = await count();
      const start = reusing.clock.now() + HOUR;
      await competitionClients(reusing.baseUrl, reusing.keys.operator).admin.createEvent({
        event: { title: "Not yet read", startTime: timestampFromMs(start), endTime: timestampFromMs(start + HOUR) },
      });
      expect(await count(), upcoming).toBe(before);
    } finally {
      await reusing.close();
    }
  });
});

describe("watchers", () => {
  const watchersOf = (stream: string) => `liveops_watchers_open{stream="${stream}"}`;
  const callsOf = (method: string, protocol: string, code: string) =>
    `liveops_calls_total{service="liveops.v1.${method.startsWith("WatchL") ? "LeaderboardService" : "EventService"}",method="${method}",protocol="${protocol}",code="${code}"}`;

  it("are gauged per stream while open; one its client aborts is counted canceled, not ok", async () => {
    const transport = createConnectTransport({
      baseUrl: server.baseUrl,
      httpVersion: "1.1",
      interceptors: [bearer(server.keys.viewer)],
    });
    const before = await scrape();
    const watch = watchEvents(createClient(EventService, transport));
    await watch.synced();
    const open = await scrape();
    expect(
      sampleOf(open, watchersOf("liveops.v1.EventService/WatchEvents")) -
        sampleOf(before, watchersOf("liveops.v1.EventService/WatchEvents")),
    ).toBe(1);

    await watch.stop();
    const keys = [watchersOf("liveops.v1.EventService/WatchEvents"), callsOf("WatchEvents", "connect", "ok")];
    const canceled = callsOf("WatchEvents", "connect", "canceled");
    const after = await scrapeUntil((s) => sampleOf(s, canceled) > sampleOf(before, canceled), "the stream's end");
    expect(moved(before, after, [...keys, canceled])).toEqual({
      [watchersOf("liveops.v1.EventService/WatchEvents")]: 0,
      [callsOf("WatchEvents", "connect", "ok")]: 0,
      [canceled]: 1,
    });
  });

  it("of WatchLeaderboard over gRPC are gauged and canceled the same way", async () => {
    const operator = competitionClients(server.baseUrl, server.keys.operator);
    const { event } = await operator.admin.createEvent({
      event: {
        title: "Watched cup",
        startTime: timestampFromMs(server.clock.now()),
        endTime: timestampFromMs(server.clock.now() + HOUR),
        leaderboard: leaderboard(),
      },
    });
    const boards = createClient(
      LeaderboardService,
      createGrpcTransport({ baseUrl: server.baseUrl, interceptors: [bearer(server.keys.viewer)] }),
    );
    const before = await scrape();
    const abort = new AbortController();
    let first: () => void = () => {};
    const gotFirst = new Promise<void>((resolve) => {
      first = resolve;
    });
    const reading = (async () => {
      for await (const _ of boards.watchLeaderboard({ eventId: event?.id ?? "" }, { signal: abort.signal })) first();
    })().catch(() => undefined);
    await gotFirst;
    const open = await scrape();
    expect(
      sampleOf(open, watchersOf("liveops.v1.LeaderboardService/WatchLeaderboard")) -
        sampleOf(before, watchersOf("liveops.v1.LeaderboardService/WatchLeaderboard")),
    ).toBe(1);
    abort.abort();
    await reading;
    const canceled = callsOf("WatchLeaderboard", "grpc", "canceled");
    const after = await scrapeUntil((s) => sampleOf(s, canceled) > sampleOf(before, canceled), "the stream's end");
    expect(
      moved(before, after, [
        watchersOf("liveops.v1.LeaderboardService/WatchLeaderboard"),
        callsOf("WatchLeaderboard", "grpc", "ok"),
        canceled,
      ]),
    ).toEqual({
      [watchersOf("liveops.v1.LeaderboardService/WatchLeaderboard")]: 0,
      [callsOf("WatchLeaderboard", "grpc", "ok")]: 0,
      [canceled]: 1,
    });
  });
});
