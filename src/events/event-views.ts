import { create, toBinary, toJsonString } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { type Event, EventSchema } from "../../gen/liveops/v1/event_pb.js";
import { type GetEventResponse, GetEventResponseSchema } from "../../gen/liveops/v1/event_service_pb.js";
import { playerVisible } from "../players/player-view.js";
import { immutableMessage } from "../server/encoding-memo.js";
import { jsonWriteOptions } from "../server/rest-routes.js";
import type { EventVersion } from "./event-list-store.js";
import { type EventRow, type EventState, rowToEvent } from "./event-record.js";

/** Who reads an event: a player sees it without its audiences (who else an event is for is the studio's business). */
export type Reader = "everyone" | "player";

/** An event's encodings, for responses assembled from them (event-page-encoding.ts), each made when first asked for. */
export interface EventPieces {
  /** The event's proto3 JSON (the API's JSON options), as UTF-8. */
  json(): Buffer;
  /** The event as field 1 of a response message (ListEventsResponse.events, GetEventResponse.event): tag, length, bytes. */
  field1(): Uint8Array;
}

/** The encodings of `message`, each made once, when first asked for. */
function piecesOf(message: Event): EventPieces {
  let json: Buffer | undefined;
  let field1: Uint8Array | undefined;
  return {
    json() {
      json ??= Buffer.from(toJsonString(EventSchema, message, jsonWriteOptions));
      return json;
    },
    field1() {
      field1 ??= new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(toBinary(EventSchema, message)).finish();
      return field1;
    },
  };
}

/**
 * An event as its readers see it at a time: its message, made once per version and state, with what is made from it
 * kept beside it (its encodings, its GetEvent response) as it is first asked for.
 */
export interface EventView {
  /** The message a `reader` gets (immutable). */
  event(reader: Reader): Event;
  /** Its encodings for a `reader`. */
  pieces(reader: Reader): EventPieces;
  /** The GetEvent response of a `reader` (immutable, so that the server keeps its encodings: encoding-memo.ts). */
  response(reader: Reader): GetEventResponse;
}

/** A kept event: its stored row (one version), and its view while that is current. */
interface Kept {
  row: EventRow;
  view?: { key: EventVersion; from: number; until: number; view: EventView };
}

/** The view of `row` in `state`, each of its parts made when first asked for. */
function viewOf(row: EventRow, state: EventState): EventView {
  const everyone = immutableMessage(rowToEvent(row, state));
  let forPlayers: Event | undefined;
  const made: Record<Reader, { pieces?: EventPieces; response?: GetEventResponse }> = { everyone: {}, player: {} };
  const event = (reader: Reader) => {
    if (reader === "everyone") return everyone;
    // The same message when the event names no audience; else a copy without them.
    forPlayers ??= playerVisible(everyone) === everyone ? everyone : immutableMessage(playerVisible(everyone));
    return forPlayers;
  };
  return {
    event,
    pieces(reader) {
      const parts = made[reader];
      parts.pieces ??= piecesOf(event(reader));
      return parts.pieces;
    },
    response(reader) {
      const parts = made[reader];
      parts.response ??= immutableMessage(create(GetEventResponseSchema, { event: event(reader) }));
      return parts.response;
    },
  };
}

/**
 * Events kept in memory for the reads (GetEvent, ListEvents), each by its id: its row of one version, and its view
 * while current. A view is a function of the row's version, runs revision and counters revision, and of the time
 * through the event's state, which stays the same from `from` until `until` (eventStateAt); it is reused while all of
 * that holds. Whether it holds is always read from the database (a version, with ListEvents' page), so a write by
 * another instance is seen as soon as by this one. At most `capacity` events are kept (the first kept goes first).
 */
export function createEventViews(capacity: number) {
  const kept = new Map<string, Kept>();
  const entry = (row: EventRow): Kept => {
    let found = kept.get(row.id);
    if (found?.row.version !== row.version) {
      if (!found && kept.size >= capacity) kept.delete(kept.keys().next().value as string);
      found = { row };
      kept.set(row.id, found);
    }
    return found;
  };
  return {
    /** The kept row of event `version.id` if it is of `version.version`. */
    row(version: Pick<EventVersion, "id" | "version">): EventRow | undefined {
      const found = kept.get(version.id);
      return found?.row.version === version.version ? found.row : undefined;
    },

    /** Keeps the row of an event as read (a view of another version is dropped). */
    keepRow(row: EventRow): void {
      entry(row);
    },

    /** The kept view of the event at `version` at `now`, if it is current. */
    current(version: EventVersion, now: number): EventView | undefined {
      const view = kept.get(version.id)?.view;
      if (!view || view.from > now || now >= view.until) return undefined;
      const { key } = view;
      const same =
        key.version === version.version &&
        key.runsRevision === version.runsRevision &&
        key.countersRevision === version.countersRevision;
      return same ? view.view : undefined;
    },

    /** Makes and keeps the view of `row` (its version and revisions as read) in `state`, its state at `now`. */
    keep(row: EventRow, state: EventState, now: number): EventView {
      const view = viewOf(row, state);
      const key = {
        id: row.id,
        version: row.version,
        runsRevision: row.runsRevision,
        countersRevision: row.countersRevision,
      };
      entry(row).view = { key, from: now, until: state.validUntil, view };
      return view;
    },

    /** Forgets an event (it was not found). */
    forget(id: string): void {
      kept.delete(id);
    },
  };
}

/** The events kept for the reads. */
export type EventViews = ReturnType<typeof createEventViews>;
