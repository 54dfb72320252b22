import { fromBinary } from "@bufbuild/protobuf";
import { timestampDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { type SQL, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LeaderboardOrder, ScoreOperator } from "../gen/liveops/v1/event_pb.js";
import {
  EventChangeType,
  type WatchEventsResponse,
  WatchEventsResponseSchema,
} from "../gen/liveops/v1/event_service_pb.js";
import { flag } from "../src/db/storage.js";
import { eventEtag } from "../src/events/event-record.js";
import { createCompetition, leaderboard } from "./support/competition.js";
import { clientFleet, outcomeOf, type ServiceClients } from "./support/fleet.js";
import { startTestServer, type TestServer, testBackend } from "./support/server.js";
import { eventually, watchEvents } from "./support/watch.js";

// Every rule here is checked with many calls in flight at once from several connections (HTTP/2 and HTTP/1.1) of a
// real server, and the outcome is checked exactly: in the answers and in what the database holds.

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const ts = timestampFromMs;
const ms = (t: Parameters<typeof timestampDate>[0] | undefined) => (t ? timestampDate(t).getTime() : undefined);
const pause = (delay: number) => new Promise((resolve) => setTimeout(resolve, delay));
const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

let server: TestServer;
let operators: ServiceClients[];
let games: ServiceClients[];
beforeAll(async () => {
  server = await startTestServer();
  operators = clientFleet(server.baseUrl, server.keys.operator, 12);
  games = clientFleet(server.baseUrl, server.keys.game_server, 12);
});
afterAll(() => server.close());

/** `n` calls made at once, the i-th over client i of `fleet` (modulo its size). */
function burst<T>(fleet: ServiceClients[], n: number, call: (clients: ServiceClients, i: number) => Promise<T>) {
  return Promise.all(Array.from({ length: n }, (_, i) => call(fleet[i % fleet.length] as ServiceClients, i)));
}

/** The rows of a query on what a server stored (its committed data). */
function rows<T>(query: SQL, on = server): Promise<T[]> {
  return on.app.storage.reads.all<T>(query);
}

/** The number a `SELECT … AS n` query reads (PostgreSQL's count(*) may come back as a string). */
async function count(query: SQL): Promise<number> {
  const [row] = await rows<{ n: number | string }>(query);
  return Number(row?.n);
}

/** A one-off event without a leaderboard, a day from now; returns it. */
async function upcomingEvent(clients: ServiceClients, title: string) {
  const start = server.clock.now() + DAY;
  const { event } = await clients.admin.createEvent({
    event: { title, startTime: ts(start), endTime: ts(start + HOUR) },
  });
  if (!event) throw new Error("no event");
  return event;
}

const PLAYERS = 40;
const PRIZED = 20;
const prize = (rank: number) => (rank === 1 ? "gold" : rank <= 5 ? "silver" : "bronze");

/**
 * A competition live from `start` for an hour, with a score for each of PLAYERS players, then 12 submitters that
 * keep a score in flight until the run is over (each score beats all the earlier ones): their acknowledged scores,
 * and how each submitter stopped.
 */
async function competitionUnderFire(start: number) {
  const tier = (rankFrom: number, rankTo: number) => ({
    rankFrom,
    rankTo,
    rewards: [{ id: prize(rankFrom), name: prize(rankFrom), quantity: 1n }],
  });
  const board = leaderboard({ prizeTiers: [tier(1, 1), tier(2, 5), tier(6, PRIZED)] });
  const id = await createCompetition((operators[0] as ServiceClients).admin, board, start, HOUR);
  await burst(games, PLAYERS, (c, p) => c.boards.submitScore({ eventId: id, playerId: `fin-${p}`, score: BigInt(p) }));
  let next = PLAYERS;
  const acked: { playerId: string; score: number }[] = [];
  const submitter = async (c: ServiceClients, k: number) => {
    for (let round = 0; ; round++) {
      const playerId = `fin-${(k * 7 + round) % PLAYERS}`;
      const score = next++;
      const outcome = await outcomeOf(c.boards.submitScore({ eventId: id, playerId, score: BigInt(score) }));
      if (outcome !== "ok") return outcome;
      acked.push({ playerId, score });
    }
  };
  return { id, acked, stopped: Promise.all(games.map(submitter)) };
}

/**
 * Checks that a competition's run was finalized once: one ENDED change, final ranks that are the ranking of the
 * stored scores (which hold every acknowledged score and only those), one grant per prized rank.
 */
async function expectFinalizedOnce({ id, acked }: Awaited<ReturnType<typeof competitionUnderFire>>, early: boolean) {
  const [run] = await rows<Record<string, unknown>>(sql`
    SELECT finalized, end_announced, ended_early FROM event_runs WHERE event_id = ${id}`);
  expect([flag(run?.finalized), flag(run?.end_announced), flag(run?.ended_early)]).toEqual([true, true, early]);
  const changes = await rows<{ message: Uint8Array }>(sql`SELECT message FROM event_changes`);
  const endings = changes
    .map((c) => fromBinary(WatchEventsResponseSchema, c.message))
    .filter((c) => c.type === EventChangeType.ENDED && c.event?.id === id);
  expect(endings).toHaveLength(1);
  const board = await rows<{
    playerId: string;
    score: number;
    subscore: number;
    seq: number;
    n: number;
    rank: number;
  }>(sql`
    SELECT player_id AS "playerId", score, subscore, reached_seq AS seq, submissions AS n, final_rank AS rank
    FROM scores WHERE event_id = ${id}`);
  expect(board).toHaveLength(PLAYERS);
  for (const entry of board) {
    const mine = acked.filter((a) => a.playerId === entry.playerId).map((a) => a.score);
    const first = Number(entry.playerId.slice("fin-".length));
    expect([entry.playerId, Number(entry.score), Number(entry.n)]).toEqual([
      entry.playerId,
      Math.max(first, ...mine),
      1 + mine.length,
    ]);
  }
  const ranked = [...board].sort(
    (a, b) =>
      Number(b.score) - Number(a.score) || Number(b.subscore) - Number(a.subscore) || Number(a.seq) - Number(b.seq),
  );
  expect(
    ranked.map((e) => Number(e.rank)),
    "final ranks of the players in the order of their stored scores",
  ).toEqual(Array.from({ length: PLAYERS }, (_, i) => i + 1));
  const grants = await rows<{ playerId: string; rank: number; rewards: string }>(sql`
    SELECT player_id AS "playerId", rank, rewards FROM reward_grants WHERE event_id = ${id} ORDER BY rank, player_id`);
  expect(grants.map((g) => [g.playerId, Number(g.rank), (JSON.parse(g.rewards) as { id: string }[])[0]?.id])).toEqual(
    ranked.slice(0, PRIZED).map((e, i) => [e.playerId, i + 1, prize(i + 1)]),
  );
  const final = await (games[0] as ServiceClients).boards.listScores({ eventId: id, pageSize: 100 });
  expect(final.final).toBe(true);
  expect(final.scores.map((s) => s.playerId)).toEqual(ranked.map((e) => e.playerId));
}

describe("under concurrent calls", () => {
  it("of concurrent UpdateEvent calls carrying the same etag, exactly one succeeds and every other gets ABORTED", async () => {
    const created = await upcomingEvent(operators[0] as ServiceClients, "etag race");
    const outcomes = await burst(operators, 60, (c, i) =>
      outcomeOf(
        c.admin.updateEvent({
          event: { id: created.id, title: `title ${i}`, etag: created.etag },
          updateMask: { paths: ["title"] },
        }),
      ),
    );
    const winners = outcomes.flatMap((o, i) => (o === "ok" ? [i] : []));
    expect(winners).toHaveLength(1);
    expect(outcomes.filter((o) => o === "Aborted/ETAG_MISMATCH")).toHaveLength(59);
    const title = `title ${winners[0]}`;
    const [stored] = await rows<{ title: string; version: number }>(
      sql`SELECT title, version FROM events WHERE id = ${created.id}`,
    );
    expect(stored).toEqual({ title, version: 2 });
    const { event } = await (operators[1] as ServiceClients).events.getEvent({ id: created.id });
    expect(event).toMatchObject({ title, etag: eventEtag(created.id, 2) });
    // One audit entry for the creation, one for the one update that happened.
    const audit = await rows<{ method: string; changes: string }>(
      sql`SELECT method, changes FROM audit_entries WHERE target_id = ${created.id} ORDER BY id`,
    );
    expect(audit.map((a) => a.method.split("/").at(-1))).toEqual(["CreateEvent", "UpdateEvent"]);
    expect(JSON.parse(audit[1]?.changes ?? "{}")).toEqual({ title: { before: "etag race", after: title } });
  });

  it("a storm of concurrent CreateEvent calls with one request_id stores exactly one event", async () => {
    const requestId = crypto.randomUUID();
    const title = `idempotent ${requestId}`;
    const start = server.clock.now() + DAY;
    const event = { title, startTime: ts(start), endTime: ts(start + HOUR), metadata: { seats: 3 } };
    const answers = await burst(operators, 100, (c) => c.admin.createEvent({ event, requestId }));
    const ids = new Set(answers.map((a) => a.event?.id));
    expect(ids.size).toBe(1);
    const [id] = ids;
    expect(answers.every((a) => a.event?.title === title && a.event.etag === eventEtag(id ?? "", 1))).toBe(true);
    expect(await count(sql`SELECT count(*) AS n FROM events WHERE title = ${title}`)).toBe(1);
    expect(await count(sql`SELECT count(*) AS n FROM create_requests WHERE request_id = ${requestId}`)).toBe(1);
    expect(await count(sql`SELECT count(*) AS n FROM audit_entries WHERE target_id = ${id}`)).toBe(1);
    const listed = [];
    let pageToken = "";
    do {
      const page = await (operators[0] as ServiceClients).events.listEvents({ pageSize: 500, pageToken });
      listed.push(...page.events.filter((e) => e.title === title));
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(listed.map((e) => e.id)).toEqual([id]);
  });

  it("concurrent IncrementCounter calls give the exact total, and each answer saw its own increment", async () => {
    const id = await createCompetition((operators[0] as ServiceClients).admin, leaderboard(), server.clock.now());
    // Two counters of one event at once: one only goes up, the other only down, so each one's values are distinct.
    const calls = Array.from({ length: 200 }, (_, i) =>
      i % 5 < 3 ? { name: "likes", delta: (i % 7) + 1 } : { name: "mood", delta: -((i % 3) + 1) },
    );
    const answers = await burst(games, calls.length, (c, i) =>
      c.counters.incrementCounter({ eventId: id, name: calls[i]?.name, delta: BigInt(calls[i]?.delta ?? 0) }),
    );
    for (const name of ["likes", "mood"]) {
      const mine = calls.flatMap((call, i) =>
        call.name === name ? [{ ...call, value: Number(answers[i]?.value) }] : [],
      );
      // In the order the increments happened (by value), each answer is the one before it plus its own delta.
      const inOrder = [...mine].sort((a, b) => Math.abs(a.value) - Math.abs(b.value));
      expect(new Set(mine.map((m) => m.value)).size).toBe(mine.length);
      inOrder.forEach((m, k) => {
        expect(m.value).toBe((inOrder[k - 1]?.value ?? 0) + m.delta);
      });
      const total = sum(mine.map((m) => m.delta));
      expect(inOrder.at(-1)?.value).toBe(total);
      const [stored] = await rows<{ value: number }>(
        sql`SELECT value FROM event_counters WHERE event_id = ${id} AND name = ${name}`,
      );
      expect(Number(stored?.value)).toBe(total);
    }
    const { event } = await (operators[0] as ServiceClients).events.getEvent({ id });
    expect(event?.counters).toEqual({
      likes: BigInt(sum(calls.filter((c) => c.name === "likes").map((c) => c.delta))),
      mood: BigInt(sum(calls.filter((c) => c.name === "mood").map((c) => c.delta))),
    });
  });

  type Submission = { score: number; subscore: number; n: number };
  const pick = (subs: Submission[], better: (a: Submission, b: Submission) => boolean) =>
    subs.reduce((best, s) => (better(s, best) ? s : best));
  it.each([
    [
      "BEST, higher first",
      ScoreOperator.BEST,
      LeaderboardOrder.HIGHER_FIRST,
      (s: Submission[]) => pick(s, (a, b) => a.score > b.score),
    ],
    [
      "BEST, lower first",
      ScoreOperator.BEST,
      LeaderboardOrder.LOWER_FIRST,
      (s: Submission[]) => pick(s, (a, b) => a.score < b.score),
    ],
    ["SET", ScoreOperator.SET, LeaderboardOrder.HIGHER_FIRST, (s: Submission[], last: number) => s[last] as Submission],
    [
      "INCR",
      ScoreOperator.INCR,
      LeaderboardOrder.HIGHER_FIRST,
      (s: Submission[]) => ({ score: sum(s.map((x) => x.score)), subscore: sum(s.map((x) => x.subscore)) }),
    ],
    [
      "DECR",
      ScoreOperator.DECR,
      LeaderboardOrder.HIGHER_FIRST,
      (s: Submission[]) => ({ score: -sum(s.map((x) => x.score)), subscore: -sum(s.map((x) => x.subscore)) }),
    ],
  ])(
    "concurrent SubmitScore calls for the same players give the exact final score and count every submission: %s",
    async (_name, scoreOperator, order, expected) => {
      const id = await createCompetition(
        (operators[0] as ServiceClients).admin,
        leaderboard({ scoreOperator, order }),
        server.clock.now(),
      );
      const players = 4;
      const each = 25;
      // Distinct scores in no particular order, so that the best and the last are one submission each.
      const submissionsOf = (p: number): Submission[] =>
        Array.from({ length: each }, (_, n) => ({ score: ((n * 37) % each) * 10 + p + 1, subscore: n, n }));
      const answers = await burst(games, players * each, (c, i) => {
        const p = i % players;
        const s = submissionsOf(p)[Math.floor(i / players)] as Submission;
        return c.boards
          .submitScore({
            eventId: id,
            playerId: `op-p${p}`,
            score: BigInt(s.score),
            subscore: BigInt(s.subscore),
            metadata: { n: s.n },
          })
          .then(({ entry }) => ({ p, entry }));
      });
      const stored = await rows<{
        playerId: string;
        score: number;
        subscore: number;
        submissions: number;
        metadata: string;
      }>(sql`
      SELECT player_id AS "playerId", score, subscore, submissions, metadata FROM scores
      WHERE event_id = ${id} ORDER BY player_id`);
      expect(stored.map((s) => s.playerId)).toEqual(Array.from({ length: players }, (_, p) => `op-p${p}`));
      for (let p = 0; p < players; p++) {
        const row = stored[p];
        // The metadata is the last submission's: for SET, the score must be that submission's.
        const last = (JSON.parse(row?.metadata ?? "{}") as { n: number }).n;
        const { score, subscore } = expected(submissionsOf(p), last);
        expect({ score: Number(row?.score), subscore: Number(row?.subscore), submissions: row?.submissions }).toEqual({
          score,
          subscore,
          submissions: each,
        });
        const { entry } = await (games[p] as ServiceClients).boards.getPlayerScore({
          eventId: id,
          playerId: `op-p${p}`,
        });
        expect(entry).toMatchObject({ score: BigInt(score), subscore: BigInt(subscore), submissions: each });
        const mine = answers.filter((a) => a.p === p).map((a) => a.entry);
        // The answer of the submission applied last shows the final entry.
        expect(Math.max(...mine.map((e) => e?.submissions ?? 0))).toBe(each);
        for (const e of mine.filter((e) => e?.submissions === each)) {
          expect({ score: Number(e?.score), subscore: Number(e?.subscore) }).toEqual({ score, subscore });
        }
      }
    },
  );

  it("concurrent JoinEvent and SubmitScore of more players than max_participants never exceed it", async () => {
    const max = 40;
    const id = await createCompetition(
      (operators[0] as ServiceClients).admin,
      leaderboard({ maxParticipants: max }),
      server.clock.now(),
    );
    // 120 players: some join twice at once, some only submit, some join once, some join and submit at once.
    const players = 120;
    const kinds = [["join", "join"], ["submit"], ["join"], ["join", "submit"]];
    const calls = Array.from({ length: players }, (_, p) => (kinds[p % 4] ?? []).map((kind) => ({ p, kind }))).flat();
    const answers = await burst(games, calls.length, async (c, i) => {
      const { p, kind } = calls[i] as (typeof calls)[number];
      const playerId = `full-${p}`;
      if (kind === "submit") {
        return { p, outcome: await outcomeOf(c.boards.submitScore({ eventId: id, playerId, score: BigInt(p) })) };
      }
      const join = c.boards.joinEvent({ eventId: id, playerId });
      return { p, outcome: await outcomeOf(join), join: await join.catch(() => undefined) };
    });
    const admitted: number[] = [];
    for (let p = 0; p < players; p++) {
      // A player is in or out as a whole, whichever of its calls got there first.
      const outcomes = new Set(answers.filter((a) => a.p === p).map((a) => a.outcome));
      expect([["ok"], ["ResourceExhausted/EVENT_FULL"]]).toContainEqual([...outcomes]);
      if (outcomes.has("ok")) admitted.push(p);
    }
    expect(admitted).toHaveLength(max);
    const joins = answers.flatMap((a) => (a.join ? [{ p: a.p, ...a.join }] : []));
    expect(joins.every((j) => j.participants >= 1n && j.participants <= BigInt(max))).toBe(true);
    const fresh = joins.filter((j) => !j.alreadyJoined);
    expect(new Set(fresh.map((j) => j.participants)).size).toBe(fresh.length);
    // A player joining twice at once is counted once: one of its two joins joined it.
    for (const p of admitted.filter((p) => p % 4 === 0)) {
      expect(
        joins
          .filter((j) => j.p === p)
          .map((j) => j.alreadyJoined)
          .sort(),
      ).toEqual([false, true]);
    }
    expect(await count(sql`SELECT participants AS n FROM event_runs WHERE event_id = ${id}`)).toBe(max);
    const entries = await rows<{ playerId: string }>(
      sql`SELECT player_id AS "playerId" FROM scores WHERE event_id = ${id}`,
    );
    expect(entries.map((e) => e.playerId).sort()).toEqual(admitted.map((p) => `full-${p}`).sort());
    const game = games[0] as ServiceClients;
    expect(await outcomeOf(game.boards.joinEvent({ eventId: id, playerId: "late" }))).toBe(
      "ResourceExhausted/EVENT_FULL",
    );
    expect(await game.boards.joinEvent({ eventId: id, playerId: `full-${admitted[0]}` })).toMatchObject({
      alreadyJoined: true,
      participants: BigInt(max),
    });
  });

  it("concurrent ClaimReward calls on one grant all answer the same grant, claimed once", async () => {
    const gold = [{ id: "gold", name: "Gold", quantity: 1n }];
    const admin = (operators[0] as ServiceClients).admin;
    const id = await createCompetition(
      admin,
      leaderboard({ prizeTiers: [{ rankFrom: 1, rankTo: 3, rewards: gold }] }),
      server.clock.now(),
    );
    for (const p of [1, 2, 3]) {
      await (games[0] as ServiceClients).boards.submitScore({ eventId: id, playerId: `claim-${p}`, score: BigInt(p) });
    }
    await admin.endEvent({ id });
    const grants = await rows<{ id: string; playerId: string }>(
      sql`SELECT id, player_id AS "playerId" FROM reward_grants WHERE event_id = ${id} ORDER BY rank`,
    );
    expect(grants.map((g) => g.playerId)).toEqual(["claim-3", "claim-2", "claim-1"]);
    const grantId = grants[0]?.id ?? "";
    // Waves of claims, the clock moving on once each wave has an answer (its other claims still in flight): a claim
    // time written twice would differ.
    const first = server.clock.now();
    const claims = [];
    for (let wave = 0; wave < 5; wave++) {
      const calls = games.flatMap((c) => [c, c]).map((c) => c.rewards.claimReward({ grantId }));
      claims.push(...calls);
      await Promise.race(calls);
      server.clock.advance(1000);
    }
    const answers = await Promise.all(claims);
    const claimTimes = new Set(answers.map((a) => ms(a.grant?.claimTime)));
    expect(claimTimes.size).toBe(1);
    const [claimTime] = claimTimes;
    expect(claimTime).toBe(first);
    expect(answers.every((a) => a.grant?.id === grantId && a.grant.playerId === "claim-3")).toBe(true);
    expect(answers.every((a) => a.grant?.rewards.map((r) => r.id).join() === "gold")).toBe(true);
    const stored = await rows<{ playerId: string; claimTime: number | null }>(
      sql`SELECT player_id AS "playerId", claim_time AS "claimTime" FROM reward_grants WHERE event_id = ${id} ORDER BY rank`,
    );
    expect(stored.map((s) => [s.playerId, s.claimTime === null ? null : Number(s.claimTime)])).toEqual([
      ["claim-3", claimTime],
      ["claim-2", null],
      ["claim-1", null],
    ]);
    server.clock.advance(60_000);
    const later = await (games[1] as ServiceClients).rewards.claimReward({ grantId });
    expect(ms(later.grant?.claimTime)).toBe(claimTime);
  });

  it("a run is finalized and its prizes granted exactly once, even when its end comes while scores, EndEvent and the scheduler race", async () => {
    const start = server.clock.now();
    // Two competitions with scores in flight: one ended by concurrent EndEvent calls, one by the scheduler's boundary
    // while EndEvent calls arrive.
    const early = await competitionUnderFire(start);
    const atBoundary = await competitionUnderFire(start);
    await eventually(() => early.acked.length >= 60 && atBoundary.acked.length >= 60, "scores to flow");
    const endEvent = (id: string) => (c: ServiceClients) => outcomeOf(c.admin.endEvent({ id }));
    const endedEarly = await Promise.all(operators.slice(0, 6).map(endEvent(early.id)));
    const endedAtBoundary = operators.slice(6, 9).map(endEvent(atBoundary.id));
    await new Promise((resolve) => setImmediate(resolve));
    // The scheduler's boundary fires in this call, while scores and EndEvent calls are in flight.
    server.clock.advance(start + HOUR - server.clock.now() + 1);
    endedAtBoundary.push(...operators.slice(9, 12).map(endEvent(atBoundary.id)));
    const ends = await Promise.all(endedAtBoundary);
    const stops = await Promise.all([early.stopped, atBoundary.stopped]);
    await server.app.scheduler.idle();

    expect(new Set(stops.flat())).toEqual(new Set(["FailedPrecondition/RUN_NOT_LIVE"]));
    expect(endedEarly.filter((e) => e === "ok")).toHaveLength(1);
    expect(endedEarly.filter((e) => e !== "ok").every((e) => e === "FailedPrecondition/EVENT_ENDED")).toBe(true);
    await expectFinalizedOnce(early, true);
    // An EndEvent handled before the boundary ends the run early; every other finds it ended.
    expect(ends.filter((e) => e === "ok").length).toBeLessThanOrEqual(1);
    expect(ends.filter((e) => e !== "ok").every((e) => e === "FailedPrecondition/EVENT_ENDED")).toBe(true);
    await expectFinalizedOnce(atBoundary, ends.includes("ok"));
  });

  it("the audit log is append-only in the database itself: UPDATE, DELETE and TRUNCATE are refused, its rows unchanged", async () => {
    const { storage } = server.app;
    const entries = () => rows<Record<string, unknown>>(sql`SELECT * FROM audit_entries ORDER BY id`);
    const before = await entries();
    expect(before.length).toBeGreaterThan(10);
    const some = before[Math.floor(before.length / 2)]?.id;
    const tampering = [
      sql`UPDATE audit_entries SET actor_key_id = 'someone else'`,
      sql`UPDATE audit_entries SET changes = '{}' WHERE id = ${some}`,
      sql`DELETE FROM audit_entries`,
      sql`DELETE FROM audit_entries WHERE id = ${some}`,
      ...(testBackend === "postgres" ? [sql`TRUNCATE audit_entries`] : []),
    ];
    // Each attempt four times at once, while operators' changes append entries.
    const [refusals, created] = await Promise.all([
      Promise.all(
        Array.from({ length: tampering.length * 4 }, (_, i) =>
          storage
            .withTransaction((tx) => tx.run(tampering[i % tampering.length] as (typeof tampering)[number]))
            .then(
              () => "allowed",
              (e: unknown) => (e instanceof Error ? e.message : String(e)),
            ),
        ),
      ),
      burst(operators, 20, (c, i) => upcomingEvent(c, `audited ${i}`)),
    ]);
    for (const refusal of refusals) expect(refusal).toMatch(/audit entries cannot be (changed|deleted)/);
    const after = await entries();
    const kept = new Set(before.map((e) => e.id));
    expect(after.filter((e) => kept.has(e.id))).toEqual(before);
    expect(
      after
        .filter((e) => !kept.has(e.id))
        .map((e) => e.target_id)
        .sort(),
    ).toEqual(created.map((e) => e.id).sort());
  });

  it("the change log under concurrent writers: a watcher receives every change once, in order, and a resume from the middle exactly the rest", async () => {
    // A server of its own, keeping the fewest changes allowed (100): the log is pruned while it is watched.
    const logged = await startTestServer({ CHANGE_LOG_RETAIN: "100" });
    try {
      const viewers = clientFleet(logged.baseUrl, logged.keys.viewer, 2);
      const watcher = watchEvents((viewers[0] as ServiceClients).events);
      await watcher.synced();
      const from = watcher.messages.at(-1)?.sequence ?? 0n;
      type Written = { id: string; etag: string; type: EventChangeType };
      // 10 writers at once, each creating 2 events and updating each 7 times: 160 changes.
      const writers = clientFleet(logged.baseUrl, logged.keys.operator, 10);
      const written = await Promise.all(
        writers.map(async (w, k) => {
          const start = logged.clock.now() + DAY;
          const mine: Written[] = [];
          const note = (type: EventChangeType, event: { id: string; etag: string } | undefined) =>
            mine.push({ id: event?.id ?? "", etag: event?.etag ?? "", type });
          for (const e of [0, 1]) {
            const title = `w${k}e${e} v1`;
            const { event } = await w.admin.createEvent({
              event: { title, startTime: ts(start), endTime: ts(start + HOUR) },
            });
            note(EventChangeType.CREATED, event);
          }
          const ids = mine.map((m) => m.id);
          for (let version = 2; version <= 8; version++) {
            for (const [e, id] of ids.entries()) {
              const event = { id, title: `w${k}e${e} v${version}` };
              note(
                EventChangeType.UPDATED,
                (await w.admin.updateEvent({ event, updateMask: { paths: ["title"] } })).event,
              );
            }
          }
          return mine;
        }),
      );
      const expected = written.flat();
      const ids = [...new Set(expected.map((w) => w.id))];
      expect(ids).toHaveLength(20);
      // Each write was acknowledged with the next version of its event.
      for (const id of ids) {
        const etags = expected.filter((w) => w.id === id).map((w) => w.etag);
        expect(etags).toEqual(Array.from({ length: 8 }, (_, v) => eventEtag(id, v + 1)));
      }
      await watcher.changeCount(expected.length);
      await pause(50); // time for a duplicate to show up, if there were one
      expect(watcher.error).toBeUndefined();
      const changes = watcher.changes();
      const identity = (c: { id?: string | undefined; etag?: string | undefined; type: EventChangeType }) =>
        `${c.id}/${c.etag}/${EventChangeType[c.type]}`;
      const seen = (c: WatchEventsResponse) => identity({ id: c.event?.id, etag: c.event?.etag, type: c.type });
      expect(changes.map(seen).sort()).toEqual(expected.map(identity).sort());
      for (const id of ids) {
        const etags = changes.filter((c) => c.event?.id === id).map((c) => c.event?.etag);
        expect(etags).toEqual(expected.filter((w) => w.id === id).map((w) => w.etag));
      }
      const sequences = changes.map((c) => c.sequence);
      expect(sequences.every((s, i) => s > (sequences[i - 1] ?? from))).toBe(true);
      if (testBackend === "sqlite") {
        expect(sequences).toEqual(sequences.map((_, i) => from + BigInt(i + 1)));
      }
      const [pruned] = await rows<{ value: string }>(
        sql`SELECT value FROM settings WHERE name = 'event_changes_pruned_through'`,
        logged,
      );
      const prunedThrough = BigInt(pruned?.value ?? 0);
      expect(prunedThrough).toBeGreaterThan(0n);
      const kept = await rows<{ sequence: number }>(
        sql`SELECT sequence FROM event_changes WHERE sequence > ${Number(from)} ORDER BY sequence`,
        logged,
      );
      expect(kept.map((k) => BigInt(k.sequence))).toEqual(sequences.filter((s) => s > prunedThrough));

      const after = changes[Math.floor(changes.length / 2)]?.sequence ?? 0n;
      expect(after).toBeGreaterThan(prunedThrough);
      const resumed = watchEvents((viewers[1] as ServiceClients).events, { afterSequence: after });
      await resumed.synced();
      const rest = changes.filter((c) => c.sequence > after);
      const summary = (m: WatchEventsResponse) => [m.sequence, EventChangeType[m.type], m.event?.id, m.event?.etag];
      const opening = resumed.messages.slice(
        0,
        resumed.messages.findIndex((m) => m.type === EventChangeType.SYNCED) + 1,
      );
      expect(opening.map(summary)).toEqual([
        ...rest.map(summary),
        [rest.at(-1)?.sequence, "SYNCED", undefined, undefined],
      ]);
      await Promise.all([watcher.stop(), resumed.stop()]);
      expect([watcher.error, resumed.error]).toEqual([undefined, undefined]);
    } finally {
      await logged.close();
    }
  });
});
