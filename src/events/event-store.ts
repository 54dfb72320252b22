import { and, asc, eq, gt, lte, or, type SQL, sql } from "drizzle-orm";
import { EventStatus } from "../../gen/liveops/v1/event_pb.js";
import { type AuditActor, appendAuditEntry, diffFields } from "../audit/audit-log.js";
import type { Db } from "../db/database.js";
import { createRequests, events } from "../db/schema.js";
import {
  type EventFields,
  type EventRow,
  eventEtag,
  fieldsToAuditJson,
  fieldsToColumns,
  rowToFields,
} from "./event-record.js";

/** A position in the (start time, id) order of events. */
export interface EventCursor {
  startTime: number;
  id: string;
}

/** The outcome of a write that names an existing event. */
export type EventWriteResult = { kind: "ok"; row: EventRow } | { kind: "not_found" } | { kind: "etag_mismatch" };

/** The outcome of an insert with an idempotency key. */
export type EventInsertResult =
  | { kind: "created"; row: EventRow }
  | { kind: "replayed"; row: EventRow | undefined; eventId: string }
  | { kind: "request_id_reused" };

function statusCondition(status: EventStatus, now: number): SQL | undefined {
  switch (status) {
    case EventStatus.UPCOMING:
      return gt(events.startTime, now);
    case EventStatus.ACTIVE:
      return and(lte(events.startTime, now), gt(events.endTime, now));
    case EventStatus.ENDED:
      return lte(events.endTime, now);
    default:
      return undefined;
  }
}

/**
 * Drizzle queries of events. Writes run in IMMEDIATE transactions so read-then-write never races, and append their
 * audit entry in the same transaction.
 */
export function createEventStore(db: Db) {
  // The hottest read (GetEvent, GET /events/{id}): prepared once rather than built and prepared per call.
  const byId = db
    .select()
    .from(events)
    .where(eq(events.id, sql.placeholder("id")))
    .prepare();

  return {
    findEventById(id: string): EventRow | undefined {
      return byId.get({ id });
    },

    /** Up to `limit` events after `after` in (start time, id) order, optionally with one status at `now`. */
    listEvents(query: { status: EventStatus; now: number; after: EventCursor | undefined; limit: number }): EventRow[] {
      const { after } = query;
      const afterCursor = after
        ? or(gt(events.startTime, after.startTime), and(eq(events.startTime, after.startTime), gt(events.id, after.id)))
        : undefined;
      return db
        .select()
        .from(events)
        .where(and(statusCondition(query.status, query.now), afterCursor))
        .orderBy(asc(events.startTime), asc(events.id))
        .limit(query.limit)
        .all();
    },

    /**
     * Inserts an event. With a request id, a retry of the same request returns the first event instead, and the
     * same request id with another fingerprint is refused.
     */
    insertEvent(
      id: string,
      fields: EventFields,
      now: number,
      actor: AuditActor,
      request?: { requestId: string; fingerprint: string },
    ): EventInsertResult {
      return db.transaction(
        (tx) => {
          if (request) {
            const previous = tx
              .select()
              .from(createRequests)
              .where(eq(createRequests.requestId, request.requestId))
              .get();
            if (previous) {
              if (previous.fingerprint !== request.fingerprint) return { kind: "request_id_reused" };
              const row = tx.select().from(events).where(eq(events.id, previous.eventId)).get();
              return { kind: "replayed", row, eventId: previous.eventId };
            }
            tx.insert(createRequests)
              .values({ requestId: request.requestId, fingerprint: request.fingerprint, eventId: id, createTime: now })
              .run();
          }
          const row = tx
            .insert(events)
            .values({ id, ...fieldsToColumns(fields), version: 1, createTime: now, updateTime: now })
            .returning()
            .get();
          appendAuditEntry(tx, actor, now, { type: "event", id }, diffFields(undefined, fieldsToAuditJson(fields)));
          return { kind: "created", row };
        },
        { behavior: "immediate" },
      );
    },

    /**
     * Replaces an event's fields with `change(current)` when `etag` is empty or matches. `change` runs inside the
     * transaction and may throw to abort it.
     */
    updateEvent(
      id: string,
      etag: string,
      now: number,
      actor: AuditActor,
      change: (current: EventFields) => EventFields,
    ): EventWriteResult {
      return db.transaction(
        (tx) => {
          const current = tx.select().from(events).where(eq(events.id, id)).get();
          if (!current) return { kind: "not_found" };
          if (etag !== "" && etag !== eventEtag(current.id, current.version)) return { kind: "etag_mismatch" };
          const before = rowToFields(current);
          const next = change(before);
          const row = tx
            .update(events)
            .set({ ...fieldsToColumns(next), version: current.version + 1, updateTime: now })
            .where(eq(events.id, id))
            .returning()
            .get();
          if (!row) throw new Error(`event ${id} vanished inside its update transaction`);
          const changes = diffFields(fieldsToAuditJson(before), fieldsToAuditJson(next));
          appendAuditEntry(tx, actor, now, { type: "event", id }, changes);
          return { kind: "ok", row };
        },
        { behavior: "immediate" },
      );
    },

    /** Deletes an event when `etag` is empty or matches. */
    deleteEvent(id: string, etag: string, now: number, actor: AuditActor): EventWriteResult {
      return db.transaction(
        (tx) => {
          const current = tx.select().from(events).where(eq(events.id, id)).get();
          if (!current) return { kind: "not_found" };
          if (etag !== "" && etag !== eventEtag(current.id, current.version)) return { kind: "etag_mismatch" };
          tx.delete(events).where(eq(events.id, id)).run();
          appendAuditEntry(
            tx,
            actor,
            now,
            { type: "event", id },
            diffFields(fieldsToAuditJson(rowToFields(current)), undefined),
          );
          return { kind: "ok", row: current };
        },
        { behavior: "immediate" },
      );
    },
  };
}

/** The event queries the services use. */
export type EventStore = ReturnType<typeof createEventStore>;
