import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { Code, type HandlerContext } from "@connectrpc/connect";
import {
  type Audience,
  AudienceSchema,
  type CreateAudienceRequest,
  type CreateAudienceResponse,
  CreateAudienceResponseSchema,
  type DeleteAudienceRequest,
  type DeleteAudienceResponse,
  DeleteAudienceResponseSchema,
  type GetAudienceRequest,
  type GetAudienceResponse,
  GetAudienceResponseSchema,
  type ListAudiencesRequest,
  type ListAudiencesResponse,
  ListAudiencesResponseSchema,
  type PreviewAudienceRequest,
  type PreviewAudienceResponse,
  PreviewAudienceResponseSchema,
  type UpdateAudienceRequest,
  type UpdateAudienceResponse,
  UpdateAudienceResponseSchema,
} from "../../gen/liveops/v1/audience_service_pb.js";
import { auditActorOf } from "../audit/audit-actor.js";
import type { Clock } from "../clock.js";
import { assertValid, etagMismatch, type FieldViolation, notFound, serviceError } from "../errors.js";
import { AUDIENCE_NAME } from "../events/event-validation.js";
import { checkPlayerId } from "../leaderboards/leaderboard-service.js";
import { type PageTokens, pageSizeOf } from "../page-token.js";
import { playerToMessage } from "../players/player-service.js";
import type { PlayerRow, PlayerStore } from "../players/player-store.js";
import { timestampFromStoredMs } from "../timestamps.js";
import { audienceOf, audiencePlayerOf } from "./audience-catalog.js";
import { compiledOrInvalid, compileExpression } from "./audience-expression.js";
import type { AudienceFields, AudienceRow, AudienceStore, AudienceWriteResult } from "./audience-store.js";

const DESCRIPTION_MAX = 1000;
const LIST_MAX = 1000;
/** PreviewAudience reads at most this many players (by id), in batches, yielding between them. */
export const PREVIEW_SCAN_MAX = 100_000;
const PREVIEW_BATCH = 1000;
const SAMPLE_DEFAULT = 10;
const SAMPLE_MAX = 100;

/** The opaque etag of one version of an audience. */
export function audienceEtag(row: AudienceRow): string {
  return createHash("sha256").update(`${row.name}:${row.version}`).digest("base64url").slice(0, 16);
}

/** Violations of an audience name given at `field`. */
export function checkAudienceName(name: string, field: string): FieldViolation[] {
  if (name === "") return [{ field, description: "is required", reason: "REQUIRED" }];
  if (!AUDIENCE_NAME.test(name)) {
    return [
      {
        field,
        description: "must be 1 to 64 lowercase letters, digits, '-' or '_', starting with a letter",
        reason: "INVALID_FORMAT",
      },
    ];
  }
  return [];
}

function checkIds(ids: readonly string[], field: string, violations: FieldViolation[]): string[] {
  if (ids.length > LIST_MAX) {
    violations.push({ field, description: `at most ${LIST_MAX} player ids`, reason: "TOO_MANY" });
    return [];
  }
  for (const [i, id] of ids.entries()) violations.push(...checkPlayerId(id, `${field}[${i}]`));
  return [...new Set(ids)];
}

/** The client-written fields of an audience in a request, checked (the expression compiled). */
function readFields(audience: Audience | undefined, prefix: string): AudienceFields {
  const violations: FieldViolation[] = [];
  const a = audience ?? create(AudienceSchema);
  for (const [name, value] of [
    ["description", a.description],
    ["expression", a.expression],
  ] as const) {
    if (value.includes("\u0000")) {
      violations.push({
        field: `${prefix}.${name}`,
        description: "must not contain the NUL character (U+0000)",
        reason: "INVALID_CHARACTER",
      });
    }
  }
  if ([...a.description].length > DESCRIPTION_MAX) {
    violations.push({
      field: `${prefix}.description`,
      description: `must be at most ${DESCRIPTION_MAX} characters`,
      reason: "TOO_LONG",
    });
  }
  const includeIds = checkIds(a.includePlayerIds, `${prefix}.include_player_ids`, violations);
  const excludeIds = checkIds(a.excludePlayerIds, `${prefix}.exclude_player_ids`, violations);
  const excluded = new Set(excludeIds);
  const both = includeIds.filter((id) => excluded.has(id));
  if (both.length > 0) {
    violations.push({
      field: `${prefix}.exclude_player_ids`,
      description: `${both.slice(0, 5).join(", ")} also in include_player_ids`,
      reason: "CONFLICT",
    });
  }
  assertValid(violations);
  if (a.expression !== "") compiledOrInvalid(`${prefix}.expression`, () => compileExpression(a.expression));
  return { description: a.description, expression: a.expression, includeIds, excludeIds };
}

/** The API message of a stored audience. */
function rowToAudience(row: AudienceRow): Audience {
  return create(AudienceSchema, {
    name: row.name,
    description: row.description,
    expression: row.expression,
    includePlayerIds: row.includeIds,
    excludePlayerIds: row.excludeIds,
    createTime: timestampFromStoredMs(row.createTime),
    updateTime: timestampFromStoredMs(row.updateTime),
    etag: audienceEtag(row),
  });
}

function written(result: AudienceWriteResult, name: string): AudienceRow {
  if (result.kind === "not_found") throw notFound("audience", name);
  if (result.kind === "etag_mismatch") throw etagMismatch("audience", name);
  if (result.kind === "in_use") {
    throw serviceError(
      Code.FailedPrecondition,
      "AUDIENCE_IN_USE",
      `audience ${name} is named by event ${result.eventId}: remove it from the event's audiences first`,
      { metadata: { event_id: result.eventId } },
    );
  }
  return result.row;
}

/** liveops.v1.AudienceService: named sets of players that events target. */
export function createAudienceService(deps: {
  audiences: AudienceStore;
  players: PlayerStore;
  clock: Clock;
  pageTokens: PageTokens;
}) {
  const { audiences, players, clock, pageTokens } = deps;
  return {
    async createAudience(req: CreateAudienceRequest, ctx: HandlerContext): Promise<CreateAudienceResponse> {
      const name = req.audience?.name ?? "";
      assertValid(checkAudienceName(name, "audience.name"));
      const fields = readFields(req.audience, "audience");
      const row = await audiences.createAudience(name, fields, clock.now(), auditActorOf(ctx));
      if (!row) {
        throw serviceError(Code.AlreadyExists, "AUDIENCE_EXISTS", `audience ${name} already exists`, {
          metadata: { name },
        });
      }
      return create(CreateAudienceResponseSchema, { audience: rowToAudience(row) });
    },

    async getAudience(req: GetAudienceRequest): Promise<GetAudienceResponse> {
      assertValid(checkAudienceName(req.name, "name"));
      const row = await audiences.findAudience(req.name);
      if (!row) throw notFound("audience", req.name);
      return create(GetAudienceResponseSchema, { audience: rowToAudience(row) });
    },

    async listAudiences(req: ListAudiencesRequest): Promise<ListAudiencesResponse> {
      const limit = pageSizeOf(req.pageSize);
      const after = pageTokens.decode("ListAudiences", req.pageToken);
      if (after !== undefined && typeof after !== "string") throw new Error("a signed page token holds no name");
      const rows = await audiences.listAudiences(after, limit + 1);
      const page = rows.slice(0, limit);
      const last = rows.length > limit ? page.at(-1)?.name : undefined;
      return create(ListAudiencesResponseSchema, {
        audiences: page.map(rowToAudience),
        nextPageToken: last === undefined ? "" : pageTokens.encode("ListAudiences", last),
      });
    },

    async updateAudience(req: UpdateAudienceRequest, ctx: HandlerContext): Promise<UpdateAudienceResponse> {
      const name = req.audience?.name ?? "";
      assertValid(checkAudienceName(name, "audience.name"));
      const fields = readFields(req.audience, "audience");
      const result = await audiences.updateAudience(
        name,
        fields,
        req.audience?.etag ?? "",
        clock.now(),
        auditActorOf(ctx),
      );
      return create(UpdateAudienceResponseSchema, { audience: rowToAudience(written(result, name)) });
    },

    async deleteAudience(req: DeleteAudienceRequest, ctx: HandlerContext): Promise<DeleteAudienceResponse> {
      assertValid(checkAudienceName(req.name, "name"));
      written(await audiences.deleteAudience(req.name, req.etag, clock.now(), auditActorOf(ctx)), req.name);
      return create(DeleteAudienceResponseSchema, {});
    },

    async previewAudience(req: PreviewAudienceRequest, ctx: HandlerContext): Promise<PreviewAudienceResponse> {
      if (req.sampleSize < 0) {
        assertValid([{ field: "sample_size", description: "must not be negative", reason: "NEGATIVE" }]);
      }
      const sampleSize = req.sampleSize === 0 ? SAMPLE_DEFAULT : Math.min(req.sampleSize, SAMPLE_MAX);
      const matches = audienceOf(readFields(req.audience, "audience"));
      const now = clock.now();
      const at = new Date(now);
      const sample: PlayerRow[] = [];
      let matching = 0;
      let failed = 0;
      let firstFailure = "";
      let scanned = 0;
      let after: string | undefined;
      let complete = false;
      while (!complete && scanned < PREVIEW_SCAN_MAX) {
        ctx.signal.throwIfAborted();
        const batch = await players.listPlayers({ after, limit: PREVIEW_BATCH });
        for (const row of batch) {
          const result = matches(audiencePlayerOf(row.id, row, now), at);
          if (result === true) {
            matching++;
            if (sample.length < sampleSize) sample.push(row);
          } else if (result instanceof Error) {
            failed++;
            firstFailure ||= `${row.id}: ${result.message.split("\n")[0]}`;
          }
        }
        scanned += batch.length;
        after = batch.at(-1)?.id;
        complete = batch.length < PREVIEW_BATCH;
        // Other calls run between batches.
        if (!complete) await new Promise((resolve) => setImmediate(resolve));
      }
      if (!complete) complete = (await players.listPlayers({ after, limit: 1 })).length === 0;
      return create(PreviewAudienceResponseSchema, {
        matchingPlayers: BigInt(matching),
        scannedPlayers: BigInt(scanned),
        complete,
        sample: sample.map(playerToMessage),
        failedPlayers: BigInt(failed),
        firstFailure,
      });
    },
  };
}
