import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";
import { describeEventError, eventFieldErrors, eventFieldLabel, humanizeMessage } from "../src/errors.js";

describe("the labels of an event's field paths", () => {
  it.each([
    ["title", "Title"],
    ["description", "Description"],
    ["start_time", "Start"],
    ["end_time", "End"],
    ["recurrence.rule", "Repeat rule"],
    ["recurrence.run_duration", "Run duration"],
    ["recurrence.time_zone", "Time zone"],
    ["metadata", "Metadata"],
    ["rewards", "Rewards"],
    ["rewards[0].id", "Reward 1 id"],
    ["rewards[2].name", "Reward 3 name"],
    ["rewards[1].quantity", "Reward 2 quantity"],
    ["leaderboard.order", "Ranking"],
    ["leaderboard.score_operator", "Score operator"],
    ["leaderboard.max_participants", "Max participants"],
    ["leaderboard.max_submissions", "Max submissions"],
    ["leaderboard.prize_tiers", "Prize tiers"],
    ["leaderboard.prize_tiers[0]", "Tier 1"],
    ["leaderboard.prize_tiers[0].rank_from", "Tier 1: from rank"],
    ["leaderboard.prize_tiers[1].rank_to", "Tier 2: to rank"],
    ["leaderboard.prize_tiers[1].rewards", "Tier 2 rewards"],
    ["leaderboard.prize_tiers[1].rewards[0].quantity", "Tier 2 reward 1 quantity"],
    ["audiences", "For audiences"],
    ["audiences[3]", "For audiences, item 4"],
    ["excluded_audiences[0]", "Excluded audiences, item 1"],
    ["metadata.theme", "Metadata “theme”"],
    ["update_mask", "Changed fields"],
    ["some_new_field", "Some new field"],
  ])("%s is “%s”", (path, label) => {
    expect(eventFieldLabel(path)).toBe(label);
  });
});

describe("server messages in the form's words", () => {
  it.each([
    ["must be after start_time", "must be after the start"],
    ["must be at least rank_from", "must be at least the tier's first rank"],
    ["overlaps prize_tiers[0] (ranks 1–3)", "overlaps tier 1 (ranks 1–3)"],
    ["is required: LEADERBOARD_ORDER_HIGHER_FIRST or LEADERBOARD_ORDER_LOWER_FIRST", "is required"],
    ["is required: SCORE_OPERATOR_BEST, _SET, _INCR or _DECR", "is required"],
    [
      "runs would overlap: two runs start 3600 s apart, less than the run duration of 7200 s",
      "runs would overlap: two runs start 1 hour apart, less than the run duration of 2 hours",
    ],
    [
      "must be in the future once the event has started (EndEvent ends it now)",
      "must be in the future once the event has started (“End now” ends it now)",
    ],
    [
      "must be one RRULE value; give the first start as start_time (not DTSTART) and the zone as time_zone",
      "must be one RRULE value; give the first start as the start (not DTSTART) and the zone as the time zone",
    ],
    ["is required", "is required"],
    ['names the audience "vip", which does not exist', 'names the audience "vip", which does not exist'],
  ])("“%s” reads “%s”", (message, words) => {
    expect(humanizeMessage(message)).toBe(words);
  });
});

/** INVALID_ARGUMENT as the server sends it: a BadRequest naming each field. */
function invalid(violations: [string, string][]) {
  return new ConnectError("invalid", Code.InvalidArgument, undefined, [
    {
      desc: BadRequestSchema,
      value: create(BadRequestSchema, {
        fieldViolations: violations.map(([field, description]) => ({ field, description })),
      }),
    },
  ]);
}

describe("the violations of a failed event write", () => {
  it("are keyed by path without the event prefix, in the form's words", () => {
    const errors = eventFieldErrors(
      invalid([
        ["event.end_time", "must be after start_time"],
        ["event.leaderboard.prize_tiers[1].rank_to", "must be at least rank_from"],
      ]),
    );
    expect([...errors]).toEqual([
      ["end_time", "must be after the start"],
      ["leaderboard.prize_tiers[1].rank_to", "must be at least the tier's first rank"],
    ]);
  });

  it("are none for an error that is not INVALID_ARGUMENT", () => {
    expect(eventFieldErrors(new ConnectError("no", Code.FailedPrecondition)).size).toBe(0);
  });

  it("name a live event's refused fields in words", () => {
    const refused = new ConnectError(
      "run 3 is live: recurrence and leaderboard cannot change until it ends (EndEvent ends it now)",
      Code.FailedPrecondition,
    );
    expect(describeEventError(refused)).toBe(
      "run 3 is live: the schedule and the leaderboard cannot change until it ends (“End now” ends it now)",
    );
  });
});
