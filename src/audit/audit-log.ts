import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { and, desc, eq, gte, lt, type SQL } from "drizzle-orm";
import type { Db, Tx } from "../db/database.js";
import { auditEntries } from "../db/schema.js";

/** Who is making a change, and through which call: taken from the call's context. */
export interface AuditActor {
  actorKeyId: string;
  method: string;
  requestId: string;
}

/** An audit entry as stored. */
export type AuditRow = typeof auditEntries.$inferSelect;

/** {"field": {"before": …, "after": …}}: only the fields that differ; a side is absent when its state is. */
export type Changes = Record<string, { before?: JsonValue; after?: JsonValue }>;

/** The fields that differ between two states of a target (undefined: it did not exist). */
export function diffFields(before: JsonObject | undefined, after: JsonObject | undefined): Changes {
  const changes: Changes = {};
  const names = new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})]);
  for (const name of names) {
    const b = before?.[name];
    const a = after?.[name];
    if (JSON.stringify(b) === JSON.stringify(a)) continue;
    changes[name] = {
      ...(before !== undefined && b !== undefined ? { before: b } : {}),
      ...(after !== undefined && a !== undefined ? { after: a } : {}),
    };
  }
  return changes;
}

/**
 * Appends one entry inside the transaction `tx` of the change it records, so that the change and its entry
 * commit or roll back together.
 */
export function appendAuditEntry(
  tx: Tx | Db,
  actor: AuditActor,
  time: number,
  target: { type: "event" | "api_key"; id: string },
  changes: Changes,
): void {
  tx.insert(auditEntries)
    .values({
      time,
      actorKeyId: actor.actorKeyId,
      method: actor.method,
      targetType: target.type,
      targetId: target.id,
      requestId: actor.requestId,
      changes: JSON.stringify(changes),
    })
    .run();
}

/** A filter of audit entries; `beforeId` continues a page. */
export interface AuditQuery {
  targetId?: string | undefined;
  actorKeyId?: string | undefined;
  startTime?: number | undefined;
  endTime?: number | undefined;
  beforeId?: number | undefined;
  limit: number;
}

/** Reads of the audit log, newest first. There is no update or delete. */
export function createAuditLog(db: Db) {
  return {
    listEntries(query: AuditQuery): AuditRow[] {
      const conditions: (SQL | undefined)[] = [
        query.targetId ? eq(auditEntries.targetId, query.targetId) : undefined,
        query.actorKeyId ? eq(auditEntries.actorKeyId, query.actorKeyId) : undefined,
        query.startTime !== undefined ? gte(auditEntries.time, query.startTime) : undefined,
        query.endTime !== undefined ? lt(auditEntries.time, query.endTime) : undefined,
        query.beforeId !== undefined ? lt(auditEntries.id, query.beforeId) : undefined,
      ];
      return db
        .select()
        .from(auditEntries)
        .where(and(...conditions))
        .orderBy(desc(auditEntries.id))
        .limit(query.limit)
        .all();
    },
  };
}

/** The audit log reads. */
export type AuditLog = ReturnType<typeof createAuditLog>;
