import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { type Event, EventSchema } from "../../gen/liveops/v1/event_pb.js";
import {
  type AudienceCatalog,
  audiencePlayerOf,
  type CompiledAudiences,
  type EventTargeting,
  targetingWith,
} from "../audiences/audience-catalog.js";
import type { Principal } from "../auth/access-control.js";
import type { Transaction } from "../db/storage.js";
import { serviceError } from "../errors.js";
import type { EventRow } from "../events/event-record.js";
import type { PlayerStore } from "./player-store.js";

/**
 * The player a request names, held to the caller's own player for a player token: empty means its own; another
 * player is PERMISSION_DENIED. For API keys, the request's player as given.
 */
export function ownPlayer(principal: Principal | undefined, asked: string): string {
  const own = principal?.playerId;
  if (own === undefined || asked === own) return asked;
  if (asked === "") return own;
  throw serviceError(
    Code.PermissionDenied,
    "OTHER_PLAYER",
    `a player token for ${own} may act only for that player, not for ${asked}`,
    { metadata: { player_id: own } },
  );
}

/** The audiences an event is for and excludes, from its stored row. */
export function targetingOf(row: Pick<EventRow, "audiences" | "excludedAudiences">): EventTargeting {
  return {
    audiences: row.audiences ? (JSON.parse(row.audiences) as string[]) : [],
    excludedAudiences: row.excludedAudiences ? (JSON.parse(row.excludedAudiences) as string[]) : [],
  };
}

/** An event as a player sees it: without its audiences (who else an event is for is the studio's business). */
export function playerVisible(event: Event): Event {
  if (event.audiences.length === 0 && event.excludedAudiences.length === 0) return event;
  return create(EventSchema, { ...event, audiences: [], excludedAudiences: [] });
}

/** Which events a player is targeted by, from its stored properties and the compiled audiences. */
export function createPlayerTargeting(players: PlayerStore, catalog: AudienceCatalog) {
  const untargeted = (targeting: EventTargeting) =>
    targeting.audiences.length === 0 && targeting.excludedAudiences.length === 0;
  return {
    /** The compiled audiences, read before a unit of work that calls {@link targetsWithin}. */
    compiled: () => catalog.compiled(),

    /**
     * Inside a unit of work: whether the event of `row` targets `playerId` at `now`, its properties read through `tx`
     * (nothing is read for an event without audiences).
     */
    async targetsWithin(
      tx: Transaction,
      row: Pick<EventRow, "audiences" | "excludedAudiences">,
      playerId: string,
      now: number,
      audiences: CompiledAudiences,
    ): Promise<boolean> {
      const targeting = targetingOf(row);
      if (untargeted(targeting)) return true;
      const player = audiencePlayerOf(playerId, await players.findPlayer(playerId, tx), now);
      return targetingWith(audiences, player, now)(targeting);
    },

    /** A test of whether an event targets `playerId` at `now` (its properties read once, now). */
    async forPlayer(playerId: string, now: number): Promise<(targeting: EventTargeting) => boolean> {
      const row = await players.findPlayer(playerId);
      return catalog.targeting(audiencePlayerOf(playerId, row, now), now);
    },

    /** Whether the event of `row` targets `playerId` at `now`. */
    async targets(row: Pick<EventRow, "audiences" | "excludedAudiences">, playerId: string, now: number) {
      const targeting = targetingOf(row);
      if (untargeted(targeting)) return true;
      const player = audiencePlayerOf(playerId, await players.findPlayer(playerId), now);
      return (await catalog.targeting(player, now))(targeting);
    },
  };
}

/** Which events target which players. */
export type PlayerTargeting = ReturnType<typeof createPlayerTargeting>;
