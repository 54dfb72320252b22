import { timestampDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { type SQL, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LeaderboardOrder, ScoreOperator } from "../gen/liveops/v1/event_pb.js";
import { eventEtag } from "../src/events/event-record.js";
import { createCompetition, leaderboard } from "./support/competition.js";
import { burst, clientFleet, outcomeOf, type ServiceClients } from "./support/fleet.js";
import { startTestServer, type TestServer, testBackend } from "./support/server.js";

// Every rule here is checked with many calls in flight at once from several connections (HTTP/2 and HTTP/1.1) of a
// real server, and the outcome is checked exactly: in the answers and in what the database holds.

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const ts = timestampFromMs;
const ms = (t: Parameters<typeof timestampDate>[0] | undefined) => (t ? timestampDate(t).getTime() : undefined);
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
});
