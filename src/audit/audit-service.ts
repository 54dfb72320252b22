import { create, type JsonObject } from "@bufbuild/protobuf";
import {
  type AuditEntry,
  AuditEntrySchema,
  type ListAuditEntriesRequest,
  type ListAuditEntriesResponse,
  ListAuditEntriesResponseSchema,
} from "../../gen/liveops/v1/audit_service_pb.js";
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
      ] as const) {
        if (value.length > 128)
          violations.push({ field, description: "must be at most 128 characters", reason: "TOO_LONG" });
      }
      assertValid(violations);
      const limit = pageSizeOf(req.pageSize);
      const scope = `ListAuditEntries/${JSON.stringify([req.targetId, req.actorKeyId, startTime, endTime])}`;
      const cursor = deps.pageTokens.decode(scope, req.pageToken);
      const beforeId = typeof cursor === "number" ? cursor : undefined;
      const rows = await deps.auditLog.listEntries({
        targetId: req.targetId || undefined,
        actorKeyId: req.actorKeyId || undefined,
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
