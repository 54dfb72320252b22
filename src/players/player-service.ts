import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import {
  type CreatePlayerTokenRequest,
  type CreatePlayerTokenResponse,
  CreatePlayerTokenResponseSchema,
  type DeletePlayerRequest,
  type DeletePlayerResponse,
  DeletePlayerResponseSchema,
  type GetPlayerRequest,
  type GetPlayerResponse,
  GetPlayerResponseSchema,
  type ListPlayersRequest,
  type ListPlayersResponse,
  ListPlayersResponseSchema,
  type Player,
  PlayerSchema,
  type RotatePlayerTokenKeyRequest,
  type RotatePlayerTokenKeyResponse,
  RotatePlayerTokenKeyResponseSchema,
  type SetPlayerPropertiesRequest,
  type SetPlayerPropertiesResponse,
  SetPlayerPropertiesResponseSchema,
} from "../../gen/liveops/v1/player_service_pb.js";
import { audienceOf, audiencePlayerOf } from "../audiences/audience-catalog.js";
import { compiledOrInvalid } from "../audiences/audience-expression.js";
import { auditActorOf } from "../audit/audit-actor.js";
import type { Clock } from "../clock.js";
import { assertValid, type FieldViolation, invalidArgument, notFound } from "../errors.js";
import { checkPlayerId } from "../leaderboards/leaderboard-service.js";
import { type PageTokens, pageSizeOf } from "../page-token.js";
import { durationToMs, timestampFromStoredMs } from "../timestamps.js";
import { checkPropertyName, type StoredProperties, storedValueOf, valueToMessage } from "./player-properties.js";
import type { PlayerRow, PlayerStore } from "./player-store.js";
import type { PlayerTokens } from "./player-tokens.js";

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const TOKEN_TTL_DEFAULT_MS = HOUR_MS;
const TOKEN_TTL_MAX_MS = 24 * HOUR_MS;
const OVERLAP_DEFAULT_MS = TOKEN_TTL_MAX_MS;
const OVERLAP_MAX_MS = 7 * 24 * HOUR_MS;
/** A filtered ListPlayers page reads at most this many players before it answers (maybe with fewer than asked). */
const FILTER_SCAN_MAX = 10_000;
const SCAN_BATCH = 1000;

/** The API message of a stored player. */
export function playerToMessage(row: PlayerRow): Player {
  return create(PlayerSchema, {
    id: row.id,
    properties: Object.fromEntries(
      Object.entries(row.properties).map(([name, value]) => [name, valueToMessage(value)]),
    ),
    createTime: timestampFromStoredMs(row.createTime),
    updateTime: timestampFromStoredMs(row.updateTime),
  });
}

/** A duration field in milliseconds within [min, max], or `absent` when unset. */
function durationWithin(
  value: Parameters<typeof durationToMs>[0] | undefined,
  field: string,
  { absent, min, max, text }: { absent: number; min: number; max: number; text: string },
): number {
  if (!value) return absent;
  const violations: FieldViolation[] = [];
  const ms = durationToMs(value, field, violations);
  assertValid(violations);
  if (ms === undefined || ms < min || ms > max) {
    throw invalidArgument([{ field, description: `must be ${text}`, reason: "OUT_OF_RANGE" }]);
  }
  return ms;
}

/** liveops.v1.PlayerService: players' properties, search, and the tokens game clients call with. */
export function createPlayerService(deps: {
  players: PlayerStore;
  tokens: PlayerTokens;
  clock: Clock;
  pageTokens: PageTokens;
}) {
  const { players, tokens, clock, pageTokens } = deps;

  /** One filtered page: scans players from `after` until `limit` match or FILTER_SCAN_MAX were read. */
  const filteredPage = async (
    req: ListPlayersRequest,
    after: string | undefined,
    limit: number,
    signal: AbortSignal,
  ) => {
    const matches = compiledOrInvalid("filter", () =>
      audienceOf({ expression: req.filter, includeIds: [], excludeIds: [] }),
    );
    const now = clock.now();
    const at = new Date(now);
    const page: PlayerRow[] = [];
    let cursor = after;
    let scanned = 0;
    for (;;) {
      signal.throwIfAborted();
      const batch = await players.listPlayers({ prefix: req.idPrefix, after: cursor, limit: SCAN_BATCH });
      for (const row of batch) {
        cursor = row.id;
        scanned++;
        if (matches(audiencePlayerOf(row.id, row, now), at) === true) page.push(row);
        if (page.length === limit) break;
      }
      if (batch.length < SCAN_BATCH && page.length < limit) return { page, next: undefined };
      if (page.length === limit || scanned >= FILTER_SCAN_MAX) return { page, next: cursor };
      // Let other calls run between batches.
      await new Promise((resolve) => setImmediate(resolve));
    }
  };

  return {
    async setPlayerProperties(
      req: SetPlayerPropertiesRequest,
      ctx: HandlerContext,
    ): Promise<SetPlayerPropertiesResponse> {
      const violations: FieldViolation[] = [...checkPlayerId(req.playerId)];
      // protobuf-es reads a map into a plain object, where a "__proto__" key replaces the prototype instead of
      // becoming an entry: refuse it rather than drop it unseen.
      if (Object.getPrototypeOf(req.properties) !== Object.prototype) {
        violations.push({
          field: 'properties["__proto__"]',
          description: "is a reserved name",
          reason: "INVALID_FORMAT",
        });
      }
      const set: StoredProperties = {};
      for (const [name, value] of Object.entries(req.properties)) {
        const field = `properties[${JSON.stringify(name)}]`;
        const nameViolations = checkPropertyName(name, field);
        violations.push(...nameViolations);
        const stored = storedValueOf(value, field, violations);
        if (nameViolations.length === 0 && stored) set[name] = stored;
      }
      req.removeProperties.forEach((name, i) => {
        violations.push(...checkPropertyName(name, `remove_properties[${i}]`));
        if (name in req.properties) {
          violations.push({
            field: `remove_properties[${i}]`,
            description: `"${name}" is also set`,
            reason: "CONFLICT",
          });
        }
      });
      assertValid(violations);
      const { row, created } = await players.setProperties(
        req.playerId,
        { set, remove: req.removeProperties },
        clock.now(),
        auditActorOf(ctx),
      );
      return create(SetPlayerPropertiesResponseSchema, { player: playerToMessage(row), created });
    },

    async getPlayer(req: GetPlayerRequest): Promise<GetPlayerResponse> {
      assertValid(checkPlayerId(req.playerId));
      const row = await players.findPlayer(req.playerId);
      if (!row) throw notFound("player", req.playerId);
      return create(GetPlayerResponseSchema, { player: playerToMessage(row) });
    },

    async listPlayers(req: ListPlayersRequest, ctx: HandlerContext): Promise<ListPlayersResponse> {
      if (req.idPrefix.length > 128) {
        throw invalidArgument([
          { field: "id_prefix", description: "must be at most 128 characters", reason: "TOO_LONG" },
        ]);
      }
      const limit = pageSizeOf(req.pageSize);
      const scope = `ListPlayers/${req.idPrefix}/${req.filter}`;
      const after = pageTokens.decode(scope, req.pageToken);
      if (after !== undefined && typeof after !== "string") throw new Error("a signed page token holds no player id");
      let page: PlayerRow[];
      let next: string | undefined;
      if (req.filter === "") {
        const rows = await players.listPlayers({ prefix: req.idPrefix, after, limit: limit + 1 });
        page = rows.slice(0, limit);
        next = rows.length > limit ? page.at(-1)?.id : undefined;
      } else {
        ({ page, next } = await filteredPage(req, after, limit, ctx.signal));
      }
      return create(ListPlayersResponseSchema, {
        players: page.map(playerToMessage),
        nextPageToken: next === undefined ? "" : pageTokens.encode(scope, next),
      });
    },

    async deletePlayer(req: DeletePlayerRequest, ctx: HandlerContext): Promise<DeletePlayerResponse> {
      assertValid(checkPlayerId(req.playerId));
      if (!(await players.deletePlayer(req.playerId, clock.now(), auditActorOf(ctx)))) {
        throw notFound("player", req.playerId);
      }
      return create(DeletePlayerResponseSchema, {});
    },

    async createPlayerToken(req: CreatePlayerTokenRequest, ctx: HandlerContext): Promise<CreatePlayerTokenResponse> {
      assertValid(checkPlayerId(req.playerId));
      const ttl = durationWithin(req.ttl, "ttl", {
        absent: TOKEN_TTL_DEFAULT_MS,
        min: MINUTE_MS,
        max: TOKEN_TTL_MAX_MS,
        text: "from 1 minute to 24 hours",
      });
      const now = clock.now();
      await players.ensurePlayer(req.playerId, now, auditActorOf(ctx));
      const minted = await tokens.mint(req.playerId, ttl, now);
      return create(CreatePlayerTokenResponseSchema, {
        token: minted.token,
        expireTime: timestampFromStoredMs(minted.expireTime),
        signingKeyId: minted.keyId,
      });
    },

    async rotatePlayerTokenKey(
      req: RotatePlayerTokenKeyRequest,
      ctx: HandlerContext,
    ): Promise<RotatePlayerTokenKeyResponse> {
      const overlap = durationWithin(req.overlap, "overlap", {
        absent: OVERLAP_DEFAULT_MS,
        min: 0,
        max: OVERLAP_MAX_MS,
        text: "from 0 to 7 days",
      });
      const rotated = await tokens.rotate(overlap, clock.now(), auditActorOf(ctx));
      return create(RotatePlayerTokenKeyResponseSchema, {
        signingKeyId: rotated.keyId,
        previousKeyId: rotated.previousKeyId,
        previousRetireTime:
          rotated.previousRetireTime === undefined ? undefined : timestampFromStoredMs(rotated.previousRetireTime),
      });
    },
  };
}
