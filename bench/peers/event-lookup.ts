import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import Sqlite from "better-sqlite3";
import { EventSchema, EventStatus, RewardSchema } from "../../gen/liveops/v1/event_pb.js";
import { GetEventResponseSchema } from "../../gen/liveops/v1/event_service_pb.js";

/** The row the peers read: the same table and the same query by primary key as the product. */
interface Row {
  id: string;
  title: string;
  description: string;
  start_time: number;
  end_time: number;
  rewards: string;
  metadata: string | null;
  version: number;
  create_time: number;
  update_time: number;
}

/** A peer's lookup of one event by id, over the benchmark's database file (read-only). */
export function openEventLookup(dbPath: string) {
  const sqlite = new Sqlite(dbPath, { readonly: true });
  const byId = sqlite.prepare("SELECT * FROM events WHERE id = ?");
  const find = (id: string) => byId.get(id) as Row | undefined;
  const toEvent = (row: Row) => {
    const now = Date.now();
    return create(EventSchema, {
      id: row.id,
      title: row.title,
      description: row.description,
      startTime: timestampFromMs(row.start_time),
      endTime: timestampFromMs(row.end_time),
      rewards: (JSON.parse(row.rewards) as { id: string; name: string; quantity: string }[]).map((r) =>
        create(RewardSchema, { id: r.id, name: r.name, quantity: BigInt(r.quantity) }),
      ),
      metadata: row.metadata === null ? undefined : JSON.parse(row.metadata),
      status: now < row.start_time ? EventStatus.UPCOMING : now < row.end_time ? EventStatus.ACTIVE : EventStatus.ENDED,
      createTime: timestampFromMs(row.create_time),
      updateTime: timestampFromMs(row.update_time),
      etag: String(row.version),
    });
  };
  return {
    find,
    toEvent,
    /** The binary GetEventResponse of an event, or undefined. */
    responseBytes(id: string): Uint8Array | undefined {
      const row = find(id);
      return row
        ? toBinary(GetEventResponseSchema, create(GetEventResponseSchema, { event: toEvent(row) }))
        : undefined;
    },
  };
}
