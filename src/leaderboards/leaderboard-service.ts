import { create, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, type HandlerContext } from "@connectrpc/connect";
import { LeaderboardOrder, ScoreOperator } from "../../gen/liveops/v1/event_pb.js";
import {
  type GetPlayerScoreRequest,
  type GetPlayerScoreResponse,
  GetPlayerScoreResponseSchema,
  type JoinEventRequest,
  type JoinEventResponse,
  JoinEventResponseSchema,
  type ListScoresAroundPlayerRequest,
  type ListScoresAroundPlayerResponse,
  ListScoresAroundPlayerResponseSchema,
  type ListScoresRequest,
  type ListScoresResponse,
  ListScoresResponseSchema,
  type ScoreEntry,
  ScoreEntrySchema,
  type SubmitScoreRequest,
  SubmitScoreResponseSchema,
} from "../../gen/liveops/v1/leaderboard_service_pb.js";
import type { CompiledAudiences } from "../audiences/audience-catalog.js";
import { principalKey } from "../auth/access-control.js";
import type { Clock } from "../clock.js";
import type { Storage, Transaction } from "../db/storage.js";
import { assertValid, type FieldViolation, invalidArgument, notFound, serviceError } from "../errors.js";
import { type EventRow, leaderboardOf, type RunRow } from "../events/event-record.js";
import type { RunQueries } from "../events/event-runs.js";
import type { EventStore } from "../events/event-store.js";
import { checkEventId } from "../events/event-validation.js";
import type { Metrics } from "../metrics/metrics.js";
import { type PageTokens, pageSizeOf } from "../page-token.js";
import { ownPlayer, type PlayerTargeting } from "../players/player-view.js";
import { type Board, joinedEntry, type RankedRecord, type ScoreRecord } from "./board.js";
import type { LeaderboardConfig as Config } from "./leaderboard-config.js";
import type { ScoreStore } from "./score-store.js";
import { countedSubmissions } from "./submission-outcomes.js";

/** What the leaderboard service needs. */
export interface LeaderboardDeps {
  store: EventStore;
  runs: RunQueries;
  scores: ScoreStore;
  storage: Storage;
  clock: Clock;
  pageTokens: PageTokens;
  /**
   * Resolves once every change committed before the call, through any instance, is on the boards in memory: a
   * SubmitScore answers its rank after it, exact as of its own commit.
   */
  boardsSynced(): Promise<void>;
  /** Which events target which players: one outside an event's audiences cannot join or score. */
  targeting: PlayerTargeting;
  metrics: Pick<Metrics, "scoresSubmitted">;
}

const PLAYER_ID = /^[A-Za-z0-9_.:@-]{1,128}$/;
const METADATA_MAX_BYTES = 1024;
const AROUND_DEFAULT = 5;
const AROUND_MAX = 50;

/** Violations of a player id given in a request. */
export function checkPlayerId(playerId: string, field = "player_id"): FieldViolation[] {
  if (playerId === "") return [{ field, description: "is required", reason: "REQUIRED" }];
  if (!PLAYER_ID.test(playerId)) {
    return [
      { field, description: "must be 1 to 128 letters, digits, '_', '-', '.', ':' or '@'", reason: "INVALID_FORMAT" },
    ];
  }
  return [];
}

function checkScoreValue(value: bigint, field: string): FieldViolation[] {
  return value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)
    ? [{ field, description: "must be within ±(2^53 - 1)", reason: "OUT_OF_RANGE" }]
    : [];
}

/** The API message of an entry with its rank. */
export function entryToMessage({ record, rank }: { record: ScoreRecord; rank: number }): ScoreEntry {
  return create(ScoreEntrySchema, {
    playerId: record.playerId,
    rank: BigInt(rank),
    score: BigInt(record.score ?? 0),
    subscore: BigInt(record.subscore ?? 0),
    metadata: record.metadata === null ? undefined : (JSON.parse(record.metadata) as JsonObject),
    updateTime: record.updateTime === null ? undefined : timestampFromMs(record.updateTime),
    submissions: record.submissions,
  });
}

/** The (score, subscore) pair after applying a submission with the board's operator; undefined: unchanged. */
function applyOperator(
  config: Config,
  current: { score: number | null; subscore: number | null },
  submitted: { score: number; subscore: number },
): { score: number; subscore: number } | undefined {
  const base = { score: current.score ?? 0, subscore: current.subscore ?? 0 };
  switch (config.operator) {
    case ScoreOperator.SET:
      return submitted;
    case ScoreOperator.INCR:
      return { score: base.score + submitted.score, subscore: base.subscore + submitted.subscore };
    case ScoreOperator.DECR:
      return { score: base.score - submitted.score, subscore: base.subscore - submitted.subscore };
    default: {
      if (current.score === null || current.subscore === null) return submitted;
      const sign = config.order === LeaderboardOrder.LOWER_FIRST ? -1 : 1;
      const better =
        submitted.score !== current.score
          ? (submitted.score - current.score) * sign > 0
          : (submitted.subscore - current.subscore) * sign > 0;
      return better ? submitted : undefined;
    }
  }
}

/** liveops.v1.LeaderboardService, but WatchLeaderboard (watch-leaderboard.ts). */
export function createLeaderboardService(deps: LeaderboardDeps) {
  const { store, runs, scores: scoreStore, storage, clock, pageTokens, boardsSynced, targeting } = deps;

  /** Inside a write: FAILED_PRECONDITION when the event does not target the player. */
  const assertTargeted = async (
    tx: Transaction,
    row: EventRow,
    playerId: string,
    now: number,
    audiences: CompiledAudiences,
  ) => {
    if (await targeting.targetsWithin(tx, row, playerId, now, audiences)) return;
    throw serviceError(
      Code.FailedPrecondition,
      "PLAYER_NOT_TARGETED",
      `event ${row.id} does not target player ${playerId}: the player is outside its audiences`,
      { metadata: { player_id: playerId } },
    );
  };

  /** For a player token: its own player (PERMISSION_DENIED for another), and the event must target it (NOT_FOUND). */
  const readAs = async (ctx: HandlerContext, row: EventRow, asked: string): Promise<string> => {
    const principal = ctx.values.get(principalKey);
    const playerId = ownPlayer(principal, asked);
    if (principal?.playerId !== undefined && !(await targeting.targets(row, playerId, clock.now()))) {
      throw notFound("event", row.id);
    }
    return playerId;
  };

  /**
   * The event and its leaderboard; inside a write (`tx`), held until the write ends so that the run cannot be
   * ended and finalized meanwhile: read the time after this.
   */
  const competition = async (eventId: string, tx?: Transaction): Promise<{ row: EventRow; config: Config }> => {
    const row = await (tx ? store.lockEvent(tx, eventId, "shared") : store.findEventById(eventId));
    if (!row) throw notFound("event", eventId);
    const config = leaderboardOf(row);
    if (!config) {
      throw serviceError(Code.FailedPrecondition, "NO_LEADERBOARD", `event ${eventId} has no leaderboard`);
    }
    return { row, config };
  };

  /** The run a read names: its number, or 0 for the live run, else the last that started, else the next one. */
  const runToRead = async (row: EventRow, runNumber: bigint): Promise<RunRow> => {
    const now = clock.now();
    const endingAfter = runNumber > 0n ? [] : await runs.runsEndingAfter(row.id, now);
    const run =
      runNumber > 0n
        ? await runs.runByNumber(row.id, Number(runNumber))
        : (endingAfter.find((r) => r.startTime <= now) ?? (await runs.lastStartedRun(row.id, now)) ?? endingAfter[0]);
    if (!run) throw notFound("run", runNumber > 0n ? `${row.id}/${runNumber}` : row.id);
    return run;
  };

  const checkRequest = (eventId: string, playerId?: string) => {
    const violations = checkEventId(eventId, "event_id");
    if (playerId !== undefined) violations.push(...checkPlayerId(playerId));
    assertValid(violations);
    return eventId.toLowerCase();
  };

  /**
   * Adds a participant without a score and returns the run's participants; undefined when a concurrent write added
   * the player first; RESOURCE_EXHAUSTED when the run is full.
   */
  const addParticipant = async (
    tx: Transaction,
    config: Config,
    at: { eventId: string; runNumber: number; playerId: string; now: number },
  ): Promise<number | undefined> => {
    const added = await scoreStore.addParticipant(tx, at, config.maxParticipants);
    if (added.kind === "present") return undefined;
    if (added.kind === "full") {
      throw serviceError(
        Code.ResourceExhausted,
        "EVENT_FULL",
        `the run has its maximum of ${config.maxParticipants} participants`,
      );
    }
    return added.participants;
  };

  return {
    async joinEvent(req: JoinEventRequest, ctx: HandlerContext): Promise<JoinEventResponse> {
      const eventId = checkRequest(req.eventId, req.playerId);
      const audiences = await targeting.compiled();
      const result = await storage.withTransaction(
        async (tx) => {
          const { row, config } = await competition(eventId, tx);
          const now = clock.now();
          await assertTargeted(tx, row, req.playerId, now, audiences);
          const run = (await runs.runsEndingAfter(row.id, now, tx))[0];
          if (!run) throw serviceError(Code.FailedPrecondition, "EVENT_ENDED", `event ${eventId} has no run to join`);
          const board = await scoreStore.boardOf(row.id, run.runNumber, config.order, tx);
          if (await scoreStore.participantRow(tx, row.id, run.runNumber, req.playerId)) {
            const participants = await scoreStore.participantCount(tx, row.id, run.runNumber);
            return { runNumber: run.runNumber, participants, joined: undefined, board };
          }
          const at = { eventId: row.id, runNumber: run.runNumber, playerId: req.playerId, now };
          const participants = await addParticipant(tx, config, at);
          if (participants === undefined) {
            const count = await scoreStore.participantCount(tx, row.id, run.runNumber);
            return { runNumber: run.runNumber, participants: count, joined: undefined, board };
          }
          return { runNumber: run.runNumber, participants, joined: joinedEntry(req.playerId), board };
        },
        { committed: (result) => result.joined && result.board.apply([result.joined]), signal: ctx.signal },
      );
      return create(JoinEventResponseSchema, {
        runNumber: BigInt(result.runNumber),
        participants: BigInt(result.participants),
        alreadyJoined: result.joined === undefined,
      });
    },

    submitScore: countedSubmissions(deps.metrics, async (req: SubmitScoreRequest, ctx: HandlerContext) => {
      const eventId = checkRequest(req.eventId, req.playerId);
      const metadata = req.metadata === undefined ? null : JSON.stringify(req.metadata);
      const violations = [...checkScoreValue(req.score, "score"), ...checkScoreValue(req.subscore, "subscore")];
      if (metadata !== null && Buffer.byteLength(metadata) > METADATA_MAX_BYTES) {
        violations.push({ field: "metadata", description: "must be at most 1 KiB as JSON", reason: "TOO_LARGE" });
      }
      assertValid(violations);
      const submitted = { score: Number(req.score), subscore: Number(req.subscore) };
      const audiences = await targeting.compiled();
      const result = await storage.withTransaction(
        async (tx) => {
          const { row, config } = await competition(eventId, tx);
          const now = clock.now();
          const run = (await store.stateAt(row, now, tx)).currentRun;
          if (!run) {
            throw serviceError(Code.FailedPrecondition, "RUN_NOT_LIVE", `event ${eventId} has no live run`);
          }
          await assertTargeted(tx, row, req.playerId, now, audiences);
          const board = await scoreStore.boardOf(row.id, run.runNumber, config.order, tx);
          let current = await scoreStore.participantRow(tx, row.id, run.runNumber, req.playerId);
          if (!current) {
            if (config.joinRequired) {
              throw serviceError(
                Code.FailedPrecondition,
                "NOT_JOINED",
                `player ${req.playerId} has not joined run ${run.runNumber} (JoinEvent)`,
              );
            }
            await addParticipant(tx, config, {
              eventId: row.id,
              runNumber: run.runNumber,
              playerId: req.playerId,
              now,
            });
            current = await scoreStore.participantRow(tx, row.id, run.runNumber, req.playerId);
          }
          if (!current) throw new Error("a participant vanished inside its transaction");
          if (config.maxSubmissions > 0 && current.submissions >= config.maxSubmissions) {
            throw serviceError(
              Code.ResourceExhausted,
              "SUBMISSION_LIMIT",
              `player ${req.playerId} has made the ${config.maxSubmissions} submissions allowed in run ${run.runNumber}`,
            );
          }
          const next = applyOperator(config, current, submitted);
          if (next && (!Number.isSafeInteger(next.score) || !Number.isSafeInteger(next.subscore))) {
            throw serviceError(Code.OutOfRange, "SCORE_OVERFLOW", "the score would leave ±(2^53 - 1)");
          }
          const record: ScoreRecord = {
            playerId: req.playerId,
            score: next?.score ?? current.score,
            subscore: next?.subscore ?? current.subscore,
            seq: next ? await scoreStore.nextSeq(tx) : current.seq,
            submissions: current.submissions + 1,
            metadata: metadata ?? current.metadata,
            updateTime: now,
          };
          await scoreStore.updateScore(tx, row.id, run.runNumber, record);
          return { runNumber: run.runNumber, record, board };
        },
        { committed: (result) => result.board.apply([result.record]), signal: ctx.signal },
      );
      await boardsSynced();
      // The board kept now: the one the write saw may have been dropped meanwhile (and read afresh since).
      const board = scoreStore.keptBoard(eventId, result.runNumber) ?? result.board;
      const entry = board.entryOf(req.playerId) ?? result.board.entryOf(req.playerId);
      if (!entry) throw new Error("a submitted score is not on its board");
      return create(SubmitScoreResponseSchema, { runNumber: BigInt(result.runNumber), entry: entryToMessage(entry) });
    }),

    async listScores(req: ListScoresRequest): Promise<ListScoresResponse> {
      const eventId = checkRequest(req.eventId);
      if (req.runNumber < 0n) {
        throw invalidArgument([{ field: "run_number", description: "must not be negative", reason: "NEGATIVE" }]);
      }
      const limit = pageSizeOf(req.pageSize);
      const { row, config } = await competition(eventId);
      const run = await runToRead(row, req.runNumber);
      const scope = `ListScores/${eventId}/${run.runNumber}`;
      const after = pageTokens.decode(scope, req.pageToken);
      if (after !== undefined && !Number.isSafeInteger(after)) throw new Error("a signed page token holds no offset");
      const offset = (after as number | undefined) ?? 0;
      const entries = run.finalized
        ? await scoreStore.finalEntries(eventId, run.runNumber, offset, limit + 1)
        : (await scoreStore.boardOf(eventId, run.runNumber, config.order)).page(offset, limit + 1);
      const page = entries.slice(0, limit);
      return create(ListScoresResponseSchema, {
        runNumber: BigInt(run.runNumber),
        scores: page.map(entryToMessage),
        nextPageToken: entries.length > limit ? pageTokens.encode(scope, offset + limit) : "",
        final: run.finalized,
      });
    },

    async listScoresAroundPlayer(
      req: ListScoresAroundPlayerRequest,
      ctx: HandlerContext,
    ): Promise<ListScoresAroundPlayerResponse> {
      const eventId = checkRequest(req.eventId, ownPlayer(ctx.values.get(principalKey), req.playerId));
      if (req.count < 0 || req.runNumber < 0n) {
        const field = req.count < 0 ? "count" : "run_number";
        throw invalidArgument([{ field, description: "must not be negative", reason: "NEGATIVE" }]);
      }
      const count = Math.min(req.count === 0 ? AROUND_DEFAULT : req.count, AROUND_MAX);
      const { row, config } = await competition(eventId);
      const playerId = await readAs(ctx, row, req.playerId);
      const run = await runToRead(row, req.runNumber);
      const board = run.finalized ? undefined : await scoreStore.boardOf(eventId, run.runNumber, config.order);
      const entry = board ? board.entryOf(playerId) : await scoreStore.finalEntryOf(eventId, run.runNumber, playerId);
      if (!entry) throw notFound("score", playerId);
      const from = Math.max(0, entry.rank - 1 - count);
      const entries = board
        ? board.page(from, entry.rank - from + count)
        : await scoreStore.finalEntries(eventId, run.runNumber, from, entry.rank - from + count);
      return create(ListScoresAroundPlayerResponseSchema, {
        runNumber: BigInt(run.runNumber),
        scores: entries.map(entryToMessage),
      });
    },

    async getPlayerScore(req: GetPlayerScoreRequest, ctx: HandlerContext): Promise<GetPlayerScoreResponse> {
      const eventId = checkRequest(req.eventId, ownPlayer(ctx.values.get(principalKey), req.playerId));
      if (req.runNumber < 0n) {
        throw invalidArgument([{ field: "run_number", description: "must not be negative", reason: "NEGATIVE" }]);
      }
      const { row, config } = await competition(eventId);
      const playerId = await readAs(ctx, row, req.playerId);
      const run = await runToRead(row, req.runNumber);
      const entry = run.finalized
        ? await scoreStore.finalEntryOf(eventId, run.runNumber, playerId)
        : (await scoreStore.boardOf(eventId, run.runNumber, config.order)).entryOf(playerId);
      if (!entry) throw notFound("score", playerId);
      return create(GetPlayerScoreResponseSchema, { runNumber: BigInt(run.runNumber), entry: entryToMessage(entry) });
    },
  };
}

/** For the watch: the top of a board and one player's entry. */
export function boardView(board: Board, topN: number, playerId: string) {
  const top = board.page(0, topN);
  const player = playerId === "" ? undefined : board.entryOf(playerId);
  return { top, player: player as { record: RankedRecord; rank: number } | undefined };
}
