import { EventStatus } from "../../gen/liveops/v1/event_pb.js";

/** The status of an event that runs from `startTime` (inclusive) to `endTime` (exclusive), at `now`. */
export function eventStatusAt(startTime: number, endTime: number, now: number): EventStatus {
  if (now < startTime) return EventStatus.UPCOMING;
  if (now < endTime) return EventStatus.ACTIVE;
  return EventStatus.ENDED;
}
