import { createHash } from "node:crypto";
import { create, type JsonObject, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { type Event, EventSchema, type Reward, RewardSchema } from "../../gen/liveops/v1/event_pb.js";
import type { events } from "../db/schema.js";
import { eventStatusAt } from "./event-status.js";

/** An event as stored. */
export type EventRow = typeof events.$inferSelect;

/** The fields of an event that clients write. */
export interface EventFields {
  title: string;
  description: string;
  startTime: number;
  endTime: number;
  rewards: Reward[];
  metadata: JsonObject | undefined;
}

interface StoredReward {
  id: string;
  name: string;
  /** A decimal string: quantities are int64 and may exceed 2^53. */
  quantity: string;
}

/** The columns that hold an event's fields. */
export function fieldsToColumns(fields: EventFields) {
  const rewards: StoredReward[] = fields.rewards.map((r) => ({
    id: r.id,
    name: r.name,
    quantity: r.quantity.toString(),
  }));
  return {
    title: fields.title,
    description: fields.description,
    startTime: fields.startTime,
    endTime: fields.endTime,
    rewards: JSON.stringify(rewards),
    metadata: fields.metadata === undefined ? null : JSON.stringify(fields.metadata),
  };
}

/** The client-written fields of a stored event. */
export function rowToFields(row: EventRow): EventFields {
  const rewards = (JSON.parse(row.rewards) as StoredReward[]).map((r) =>
    create(RewardSchema, { id: r.id, name: r.name, quantity: BigInt(r.quantity) }),
  );
  return {
    title: row.title,
    description: row.description,
    startTime: row.startTime,
    endTime: row.endTime,
    rewards,
    metadata: row.metadata === null ? undefined : (JSON.parse(row.metadata) as JsonObject),
  };
}

/** The client-written fields as plain JSON, for the audit log. */
export function fieldsToAuditJson(fields: EventFields): JsonObject {
  return {
    title: fields.title,
    description: fields.description,
    start_time: new Date(fields.startTime).toISOString(),
    end_time: new Date(fields.endTime).toISOString(),
    rewards: fields.rewards.map((r) => ({ id: r.id, name: r.name, quantity: r.quantity.toString() })),
    metadata: fields.metadata ?? null,
  };
}

/** The opaque etag of one version of an event. */
export function eventEtag(id: string, version: number): string {
  return createHash("sha256").update(`${id}:${version}`).digest("base64url").slice(0, 16);
}

/** The API message of a stored event, with its status at `now`. */
export function rowToEvent(row: EventRow, now: number): Event {
  const fields = rowToFields(row);
  return create(EventSchema, {
    id: row.id,
    title: fields.title,
    description: fields.description,
    startTime: timestampFromMs(fields.startTime),
    endTime: timestampFromMs(fields.endTime),
    rewards: fields.rewards,
    metadata: fields.metadata,
    status: eventStatusAt(row.startTime, row.endTime, now),
    createTime: timestampFromMs(row.createTime),
    updateTime: timestampFromMs(row.updateTime),
    etag: eventEtag(row.id, row.version),
  });
}

/** A digest of the client-written fields, to tell a retry of a CreateEvent from a different request. */
export function fieldsFingerprint(fields: EventFields): string {
  const message = create(EventSchema, {
    title: fields.title,
    description: fields.description,
    startTime: timestampFromMs(fields.startTime),
    endTime: timestampFromMs(fields.endTime),
    rewards: fields.rewards,
  });
  return createHash("sha256")
    .update(toBinary(EventSchema, message))
    .update(JSON.stringify(fields.metadata ?? null))
    .digest("hex");
}
