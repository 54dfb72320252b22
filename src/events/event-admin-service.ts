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
  type UpdateEventRequest,
  type UpdateEventResponse,
  UpdateEventResponseSchema,
} from "../../gen/liveops/v1/event_admin_service_pb.js";
import type { Event } from "../../gen/liveops/v1/event_pb.js";
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
import { type EventFields, fieldsFingerprint, rowToEvent } from "./event-record.js";
import type { EventDeps } from "./event-service.js";
import type { EventWriteResult } from "./event-store.js";
import {
  checkEventId,
  readEventFields,
  validateEventFields,
  type WritableEventField,
  writableEventFields,
} from "./event-validation.js";

const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;
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

/** liveops.v1.EventAdminService: creates, changes and deletes events. */
export function createEventAdminService({ store, clock }: EventDeps) {
  return {
    createEvent(req: CreateEventRequest, ctx: HandlerContext): CreateEventResponse {
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
      const request =
        req.requestId === "" ? undefined : { requestId: req.requestId, fingerprint: fieldsFingerprint(fields) };
      const result = store.insertEvent(randomUUID(), fields, now, auditActorOf(ctx), request);
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
          return create(CreateEventResponseSchema, { event: rowToEvent(result.row, now) });
        case "created":
          return create(CreateEventResponseSchema, { event: rowToEvent(result.row, now) });
      }
    },

    updateEvent(req: UpdateEventRequest, ctx: HandlerContext): UpdateEventResponse {
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
      const now = clock.now();
      const result = store.updateEvent(id, event.etag, now, auditActorOf(ctx), (current) => {
        const next = { ...current, ...read.values };
        assertValid(validateEventFields(next, "event"));
        return next;
      });
      return create(UpdateEventResponseSchema, { event: rowToEvent(throwUnlessOk(result, id), now) });
    },

    deleteEvent(req: DeleteEventRequest, ctx: HandlerContext): DeleteEventResponse {
      assertValid(checkEventId(req.id, "id"));
      const id = req.id.toLowerCase();
      throwUnlessOk(store.deleteEvent(id, req.etag, clock.now(), auditActorOf(ctx)), id);
      return create(DeleteEventResponseSchema);
    },
  };
}
