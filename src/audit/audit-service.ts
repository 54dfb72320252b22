import { create, type JsonObject } from "@bufbuild/protobuf";
import {
  type AuditEntry,
  AuditEntrySchema,
  type ListAuditEntriesRequest,
  type ListAuditEntriesResponse,
  ListAuditEntriesResponseSchema,
} from "../../gen/liveops/v1/audit_service_pb.js";
import { methodRoles } from "../auth/roles.js";
import { assertValid, type FieldViolation } from "../errors.js";
import { type PageTokens, pageSizeOf, takePage } from "../page-token.js";
import { timestampFromStoredMs, timestampToMs } from "../timestamps.js";
import type { AuditLog, AuditRow } from "./audit-log.js";

function entryOf(row: AuditRow): AuditEntry {
  return create(AuditEntrySchema, {
    id: String(row.id),
    time: timestampFromStoredMs(row.time),
    actorKeyId: row.actorKeyId,
    method: row.method,
    targetType: row.targetType,
    targetId: row.targetId,
    requestId: row.requestId,
    changes: JSON.parse(row.changes) as JsonObject,
  });
}

/**
 * The method paths a method filter names: a full path ("/liveops.v1.EventAdminService/UpdateEvent") as it is, a
 * bare name ("UpdateEvent") every method of that name in the permission table, which lists every method served.
 */
function methodPathsNamed(method: string): string[] {
  if (method.startsWith("/")) return [method];
  const paths = [...methodRoles.keys()].filter((path) => path.endsWith(`/${method}`));
  // A name no method has can still name entries made outside RPCs (e.g. "first start").
  return paths.length > 0 ? paths : [method];
}

/** liveops.v1.AuditService: reads the audit log. */
export function createAuditService(deps: { auditLog: AuditLog; pageTokens: PageTokens }) {
  return {
    async listAuditEntries(req: ListAuditEntriesRequest): Promise<ListAuditEntriesResponse> {
      const violations: FieldViolation[] = [];
      const startTime = req.startTime ? timestampToMs(req.startTime, "start_time", violations) : undefined;
      const endTime = req.endTime ? timestampToMs(req.endTime, "end_time", violations) : undefined;
      if (startTime !== undefined && endTime !== undefined && endTime <= startTime) {
        violations.push({ field: "end_time", description: "must be after start_time", reason: "END_NOT_AFTER_START" });
      }
      for (const [field, value] of [
        ["target_id", req.targetId],
        ["actor_key_id", req.actorKeyId],
        ["method", req.method],
        ["target_type", req.targetType],
      ] as const) {
        if (value.length > 128)
          violations.push({ field, description: "must be at most 128 characters", reason: "TOO_LONG" });
      }
      assertValid(violations);
      const limit = pageSizeOf(req.pageSize);
      // Tokens made before the method and target type filters keep their scope.
      const filters = [req.targetId, req.actorKeyId, startTime, endTime];
      if (req.method !== "" || req.targetType !== "") filters.push(req.method, req.targetType);
      const scope = `ListAuditEntries/${JSON.stringify(filters)}`;
      const cursor = deps.pageTokens.decode(scope, req.pageToken);
      const beforeId = typeof cursor === "number" ? cursor : undefined;
      const rows = await deps.auditLog.listEntries({
        targetId: req.targetId || undefined,
        actorKeyId: req.actorKeyId || undefined,
        methods: req.method === "" ? undefined : methodPathsNamed(req.method),
        targetType: req.targetType || undefined,
        startTime,
        endTime,
        beforeId,
        limit: limit + 1,
      });
      const { page, last } = takePage(rows, limit);
      return create(ListAuditEntriesResponseSchema, {
        entries: page.map(entryOf),
        nextPageToken: last ? deps.pageTokens.encode(scope, last.id) : "",
      });
    },
  };
}
