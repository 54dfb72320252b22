import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import type { FieldMask } from "@bufbuild/protobuf/wkt";
import { Code, type HandlerContext } from "@connectrpc/connect";
import {
  type CreateEventRequest,
  type CreateEventResponse,
  CreateEventResponseSchema,
  type DeleteEventRequest,
  type DeleteEventResponse,
  DeleteEventResponseSchema,
  type EndEventRequest,
  type EndEventResponse,
  EndEventResponseSchema,
  type UpdateEventRequest,
  type UpdateEventResponse,
  UpdateEventResponseSchema,
} from "../../gen/liveops/v1/event_admin_service_pb.js";
import { type Event, EventStatus } from "../../gen/liveops/v1/event_pb.js";
import { auditActorOf } from "../audit/audit-actor.js";
import {
  assertValid,
  etagMismatch,
  type FieldViolation,
  invalidArgument,
  notFound,
  requestIdReused,
  serviceError,
} from "../errors.js";
import {
  type EventFields,
  type EventRow,
  type EventState,
  eventEtag,
  fieldsFingerprint,
  fieldsToAuditJson,
  rowToEvent,
  rowToFields,
} from "./event-record.js";
import { prepareRunPlan, type RunPlan } from "./event-runs.js";
import type { EventDeps } from "./event-service.js";
import { type EndRefusal, type EventWriteResult, scheduleChanged } from "./event-store.js";
import {
  checkEventId,
  readEventFields,
  scheduleCheck,
  validateEventFields,
  type WritableEventField,
  writableEventFields,
} from "./event-validation.js";
import { RecurrenceQueueFull, RecurrenceTooCostly, type WalkOptions } from "./recurrence-expander.js";

const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;
/** An update whose event changed while its runs were being planned is planned again, this many times at most. */
const UPDATE_ATTEMPTS = 5;
const ALL_FIELDS: ReadonlySet<WritableEventField> = new Set(writableEventFields);

/**
 * The fields an update changes: those in the mask, "*" for all; without a mask, every field set in the event
 * (AIP-134).
 */
function updatePaths(mask: FieldMask | undefined, event: Event): Set<WritableEventField> {
  if (!mask || mask.paths.length === 0) {
    const implied = new Set<WritableEventField>();
    if (event.title !== "") implied.add("title");
    if (event.description !== "") implied.add("description");
    if (event.startTime) implied.add("start_time");
    if (event.endTime) implied.add("end_time");
    if (event.rewards.length > 0) implied.add("rewards");
    if (event.metadata) implied.add("metadata");
    if (event.recurrence) implied.add("recurrence");
    if (event.leaderboard) implied.add("leaderboard");
    if (event.audiences.length > 0) implied.add("audiences");
    if (event.excludedAudiences.length > 0) implied.add("excluded_audiences");
    return implied;
  }
  const violations: FieldViolation[] = [];
  const paths = new Set<WritableEventField>();
  for (const path of mask.paths) {
    if (path === "*") return new Set(ALL_FIELDS);
    if ((writableEventFields as readonly string[]).includes(path)) paths.add(path as WritableEventField);
    else {
      violations.push({
        field: "update_mask",
        description: `"${path}" is not a field that can be updated (${writableEventFields.join(", ")} or *)`,
        reason: "UNKNOWN_FIELD",
      });
    }
  }
  assertValid(violations);
  return paths;
}

function throwUnlessOk(result: EventWriteResult, id: string) {
  if (result.kind === "not_found") throw notFound("event", id);
  if (result.kind === "etag_mismatch") throw etagMismatch("event", id);
  return result.row;
}

function refused(reason: string, message: string, fields: string[]) {
  return serviceError(Code.FailedPrecondition, reason, message, { metadata: { fields: fields.join(",") } });
}

/**
 * Refuses changes of the schedule that would rewrite what has happened: a live run keeps its start and rule, a
 * started event keeps its first start and stays recurring, an ended event keeps its schedule; and a started
 * event's new end must be in the future.
 */
function checkScheduleChange(before: EventFields, after: EventFields, state: EventState, now: number) {
  const changed: string[] = [];
  if (before.startTime !== after.startTime) changed.push("start_time");
  if (before.endTime !== after.endTime) changed.push("end_time");
  if (JSON.stringify(before.recurrence) !== JSON.stringify(after.recurrence)) changed.push("recurrence");
  const leaderboardJson = (fields: EventFields) => JSON.stringify(fieldsToAuditJson(fields).leaderboard);
  if (leaderboardJson(before) !== leaderboardJson(after)) changed.push("leaderboard");
  if (changed.length === 0 || state.status === EventStatus.UPCOMING) return;
  if (state.status === EventStatus.ENDED) {
    throw refused(
      "EVENT_ENDED",
      `the event has ended: ${changed.join(", ")} cannot change (title, description, rewards and metadata can)`,
      changed,
    );
  }
  const live = state.currentRun;
  const fixed = changed.filter((f) => f === "start_time" || ((f === "recurrence" || f === "leaderboard") && live));
  if (fixed.length > 0) {
    const which = fixed.join(" and ");
    throw live
      ? refused(
          "RUN_LIVE",
          `run ${live.runNumber} is live: ${which} cannot change until it ends (EndEvent ends it now)`,
          fixed,
        )
      : refused("EVENT_STARTED", `the event has started: ${which} cannot change`, fixed);
  }
  if (before.recurrence && !after.recurrence) {
    throw refused("EVENT_STARTED", "the event has started: it cannot stop being recurring (EndEvent ends it)", [
      "recurrence",
    ]);
  }
  if (changed.includes("end_time") && after.endTime !== undefined && after.endTime <= now) {
    throw invalidArgument([
      {
        field: "event.end_time",
        description: "must be in the future once the event has started (EndEvent ends it now)",
        reason: "END_IN_PAST",
      },
    ]);
  }
}

/**
 * The outcome of walking an event's rule: a rule that cannot be walked in time is the request's fault
 * (INVALID_ARGUMENT), a full queue of walks the server's load (RESOURCE_EXHAUSTED, retryable).
 */
async function walked<T>(walk: Promise<T>): Promise<T> {
  try {
    return await walk;
  } catch (err) {
    if (err instanceof RecurrenceTooCostly) {
      throw invalidArgument([
        {
          field: "event.recurrence.rule",
          description: `${err.message}: its occurrences are too sparse or never come (e.g. an INTERVAL that never meets its BYHOUR, a day no month has)`,
          reason: "RULE_TOO_COSTLY",
        },
      ]);
    }
    if (err instanceof RecurrenceQueueFull) throw err.toConnectError();
    throw err;
  }
}

/** How a call's walks of rules run: dropped when it ends, and counted against its key's share of the queue. */
function walkOf(ctx: HandlerContext): WalkOptions {
  return { signal: ctx.signal, owner: auditActorOf(ctx).actorKeyId };
}

const END_REFUSALS: Record<EndRefusal, [string, string]> = {
  not_started: ["EVENT_NOT_STARTED", "has not started: delete it, or change its start_time"],
  ended: ["EVENT_ENDED", "has already ended"],
  no_live_run: ["NO_LIVE_RUN", "has no live run to end"],
};

/** liveops.v1.EventAdminService: creates, changes and deletes events. */
export function createEventAdminService({ store, runs, expander, clock }: EventDeps) {
  const eventNow = async (row: EventRow, now: number) => rowToEvent(row, await store.stateAt(row, now));
  return {
    async createEvent(req: CreateEventRequest, ctx: HandlerContext): Promise<CreateEventResponse> {
      const violations: FieldViolation[] = [];
      if (req.requestId !== "" && !REQUEST_ID.test(req.requestId)) {
        violations.push({
          field: "request_id",
          description: "must be 1 to 128 printable ASCII characters without spaces",
          reason: "INVALID_FORMAT",
        });
      }
      if (!req.event) {
        throw invalidArgument([...violations, { field: "event", description: "is required", reason: "REQUIRED" }]);
      }
      const read = readEventFields(req.event, ALL_FIELDS, "event");
      violations.push(...read.violations, ...validateEventFields(read.values, "event"));
      assertValid(violations);
      const fields = read.values as EventFields;
      const now = clock.now();
      const check = scheduleCheck(fields, "event", undefined);
      const { violations: scheduleViolations, plan } = await walked(
        prepareRunPlan(runs, expander, undefined, fields, now, true, check, walkOf(ctx)),
      );
      assertValid(scheduleViolations);
      const request =
        req.requestId === "" ? undefined : { requestId: req.requestId, fingerprint: fieldsFingerprint(fields) };
      const result = await store.insertEvent(
        randomUUID(),
        fields,
        now,
        auditActorOf(ctx),
        request,
        plan as RunPlan,
        ctx.signal,
      );
      switch (result.kind) {
        case "request_id_reused":
          throw requestIdReused(req.requestId);
        case "replayed":
          if (!result.row) {
            throw serviceError(
              Code.FailedPrecondition,
              "REQUEST_ID_TARGET_DELETED",
              `request_id ${req.requestId} created event ${result.eventId}, which has since been deleted`,
            );
          }
          return create(CreateEventResponseSchema, { event: await eventNow(result.row, now) });
        case "created":
          return create(CreateEventResponseSchema, { event: await eventNow(result.row, now) });
      }
    },

    async updateEvent(req: UpdateEventRequest, ctx: HandlerContext): Promise<UpdateEventResponse> {
      const event = req.event;
      if (!event) throw invalidArgument([{ field: "event", description: "is required", reason: "REQUIRED" }]);
      const violations = checkEventId(event.id, "event.id");
      const paths = updatePaths(req.updateMask, event);
      if (paths.size === 0 && violations.length === 0) {
        violations.push({ field: "update_mask", description: "names no field to update", reason: "EMPTY" });
      }
      const read = readEventFields(event, paths, "event");
      violations.push(...read.violations);
      assertValid(violations);
      const id = event.id.toLowerCase();
      for (let attempt = 1; ; attempt++) {
        // Checked and planned from the event as read now; the write is refused as stale if it changed meanwhile.
        const current = await store.findEventById(id);
        if (!current) throw notFound("event", id);
        if (event.etag !== "" && event.etag !== eventEtag(current.id, current.version)) throw etagMismatch("event", id);
        const now = clock.now();
        const before = rowToFields(current);
        const next = { ...before, ...read.values };
        checkScheduleChange(before, next, await store.stateAt(current, now), now);
        assertValid(validateEventFields(next, "event"));
        const schedule = scheduleChanged(before, next);
        let plan: RunPlan | undefined;
        if (schedule.runs) {
          const check = scheduleCheck(next, "event", before);
          const prepared = await walked(
            prepareRunPlan(runs, expander, id, next, now, schedule.rule, check, walkOf(ctx)),
          );
          assertValid(prepared.violations);
          plan = prepared.plan;
        }
        const result = await store.updateEvent(current, event.etag, now, auditActorOf(ctx), { next, plan }, ctx.signal);
        if (result.kind !== "stale") {
          return create(UpdateEventResponseSchema, { event: await eventNow(throwUnlessOk(result, id), now) });
        }
        if (attempt === UPDATE_ATTEMPTS) {
          throw serviceError(
            Code.Aborted,
            "CONCURRENT_CHANGE",
            `event ${id} kept changing while this update was planned; retry`,
          );
        }
      }
    },

    async endEvent(req: EndEventRequest, ctx: HandlerContext): Promise<EndEventResponse> {
      assertValid(checkEventId(req.id, "id"));
      const id = req.id.toLowerCase();
      const result = await store.endEvent(
        id,
        req.etag,
        () => clock.now(),
        auditActorOf(ctx),
        req.currentRunOnly,
        ctx.signal,
      );
      if (result.kind === "refused") {
        const [reason, text] = END_REFUSALS[result.why];
        throw serviceError(Code.FailedPrecondition, reason, `event ${id} ${text}`);
      }
      if (result.kind === "not_found") throw notFound("event", id);
      if (result.kind === "etag_mismatch") throw etagMismatch("event", id);
      if (result.kind !== "ended") throw new Error(`EndEvent wrote no end: ${result.kind}`);
      return create(EndEventResponseSchema, { event: await eventNow(result.row, result.now) });
    },

    async deleteEvent(req: DeleteEventRequest, ctx: HandlerContext): Promise<DeleteEventResponse> {
      assertValid(checkEventId(req.id, "id"));
      const id = req.id.toLowerCase();
      throwUnlessOk(await store.deleteEvent(id, req.etag, () => clock.now(), auditActorOf(ctx), ctx.signal), id);
      return create(DeleteEventResponseSchema);
    },
  };
}
