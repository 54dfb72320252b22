// @vitest-environment happy-dom
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";
import {
  EventRunSchema,
  EventSchema,
  EventStatus,
  LeaderboardOrder,
  ScoreOperator,
} from "../../gen/liveops/v1/event_pb.js";
import { EventForm, type EventInit } from "../src/event-form.js";

afterEach(cleanup);

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

/** The error shown in the field of the input labelled `label`. */
function fieldError(label: string) {
  const field = screen.getByLabelText(label).closest(".field") as HTMLElement;
  return within(field).queryByRole("alert")?.textContent;
}

/** Whether an input is disabled, itself or by a disabled fieldset around it (which happy-dom does not apply). */
const disabled = (label: string) => {
  const input = screen.getAllByLabelText(label)[0] as HTMLInputElement;
  return input.disabled || input.closest("fieldset[disabled]") !== null;
};

const withRewardsAndTiers = create(EventSchema, {
  id: "00000000-0000-4000-8000-000000000001",
  title: "Cup",
  status: EventStatus.UPCOMING,
  startTime: timestampFromMs(Date.UTC(2027, 2, 7, 17)),
  endTime: timestampFromMs(Date.UTC(2027, 2, 7, 19)),
  rewards: [{ id: "gems", name: "Gems", quantity: 0n }],
  leaderboard: {
    order: LeaderboardOrder.HIGHER_FIRST,
    scoreOperator: ScoreOperator.BEST,
    prizeTiers: [
      { rankFrom: 2, rankTo: 1, rewards: [{ id: "gold", name: "Gold", quantity: 1n }] },
      {
        rankFrom: 1,
        rankTo: 3,
        rewards: [
          { id: "silver", name: "Silver", quantity: 1n },
          { id: "", name: "Badge", quantity: 1n },
        ],
      },
    ],
  },
});

const weekly = create(EventSchema, {
  id: "00000000-0000-4000-8000-000000000002",
  title: "Sunday Cup",
  status: EventStatus.UPCOMING,
  startTime: timestampFromMs(Date.UTC(2027, 2, 7, 17)),
  recurrence: {
    rule: "FREQ=WEEKLY;BYDAY=SU;BYHOUR=18;BYMINUTE=0;COUNT=10",
    runDuration: { seconds: 7200n },
    timeZone: "Europe/Berlin",
  },
  leaderboard: { order: LeaderboardOrder.HIGHER_FIRST, scoreOperator: ScoreOperator.BEST },
});

const submitted = (onSubmit: ReturnType<typeof vi.fn>) => onSubmit.mock.calls[0]?.[0] as EventInit;

describe("the event form's errors", () => {
  it("shows each server violation on the input it names, in words", async () => {
    const onSubmit = vi.fn().mockRejectedValue(
      invalid([
        ["event.title", "is required"],
        ["event.end_time", "must be after start_time"],
      ]),
    );
    render(<EventForm onSubmit={onSubmit} onCancel={() => {}} />);
    fireEvent.click(screen.getByRole("button", { name: "Create event" }));
    await waitFor(() => expect(fieldError("Title")).toBe("is required"));
    expect(fieldError("End date")).toBe("must be after the start");
    expect(fieldError("Description")).toBeUndefined();
    expect(screen.getByLabelText("Title").getAttribute("aria-invalid")).toBe("true");
    // Every violation is on its input: nothing listed above the form.
    expect(screen.queryByText("The event was not saved:")).toBeNull();
  });

  it("shows a schedule's violations on the builder's inputs", async () => {
    const onSubmit = vi.fn().mockRejectedValue(
      invalid([
        [
          "event.recurrence.rule",
          "has more than 5000 runs before its end; leave the series open-ended or end it sooner",
        ],
        [
          "event.recurrence.run_duration",
          "runs would overlap: two runs start 604800 s apart, less than the run duration of 1209600 s",
        ],
        ["event.recurrence.time_zone", '"Mars/Base" is not an IANA time zone (such as "Europe/Berlin" or "UTC")'],
      ]),
    );
    render(<EventForm initial={weekly} onSubmit={onSubmit} onCancel={() => {}} />);
    fireEvent.click(screen.getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(fieldError("Number of runs")).toMatch(/^has more than 5000 runs/));
    expect(within(screen.getByRole("group", { name: "Each run lasts" })).getByRole("alert").textContent).toBe(
      "runs would overlap: two runs start 7 days apart, less than the run duration of 14 days",
    );
    expect(fieldError("Time zone")).toMatch(/is not an IANA time zone/);
  });

  it("shows reward and prize tier violations on their own inputs, not run together", async () => {
    const onSubmit = vi.fn().mockRejectedValue(
      invalid([
        ["event.rewards[0].quantity", "must be greater than 0"],
        ["event.leaderboard.prize_tiers[0].rank_to", "must be at least rank_from"],
        ["event.leaderboard.prize_tiers[1]", "overlaps prize_tiers[0] (ranks 2–1)"],
        ["event.leaderboard.prize_tiers[1].rewards[1].id", "must be 1 to 64 letters, digits, '_', '-', '.' or ':'"],
      ]),
    );
    render(<EventForm initial={withRewardsAndTiers} onSubmit={onSubmit} onCancel={() => {}} />);
    fireEvent.click(screen.getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(fieldError("Reward 1 quantity")).toBe("must be greater than 0"));
    expect(fieldError("Reward 1 name")).toBeUndefined();
    expect(fieldError("Tier 1: to rank")).toBe("must be at least the tier's first rank");
    expect(fieldError("Tier 1: from rank")).toBeUndefined();
    expect(fieldError("Tier 2: from rank")).toBe("overlaps tier 1 (ranks 2–1)");
    expect(fieldError("Tier 2 reward 2 id")).toMatch(/^must be 1 to 64 letters/);
    expect(fieldError("Tier 2 reward 1 id")).toBeUndefined();
  });

  it("lists the violations that name no input at the top, by their labels", async () => {
    const onSubmit = vi.fn().mockRejectedValue(
      invalid([
        ["event.metadata", "must be at most 16384 bytes as JSON"],
        ["event.title", "is required"],
      ]),
    );
    render(<EventForm onSubmit={onSubmit} onCancel={() => {}} />);
    fireEvent.click(screen.getByRole("button", { name: "Create event" }));
    const summary = await screen.findByText("The event was not saved:");
    expect(within(summary.parentElement as HTMLElement).getByRole("listitem").textContent).toBe(
      "Metadata: must be at most 16384 bytes as JSON",
    );
  });

  it("moves the focus to the first invalid input after a failed submit", async () => {
    const onSubmit = vi.fn().mockRejectedValue(
      invalid([
        ["event.leaderboard.prize_tiers[0].rank_to", "must be at least rank_from"],
        ["event.rewards[0].quantity", "must be greater than 0"],
      ]),
    );
    render(<EventForm initial={withRewardsAndTiers} onSubmit={onSubmit} onCancel={() => {}} />);
    fireEvent.click(screen.getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(document.activeElement).toBe(screen.getByLabelText("Reward 1 quantity")));
  });

  it("does not send a schedule it cannot read, and says which input is missing", async () => {
    const onSubmit = vi.fn();
    render(<EventForm initial={weekly} onSubmit={onSubmit} onCancel={() => {}} />);
    fireEvent.change(screen.getByLabelText("Hours"), { target: { value: "0" } });
    fireEvent.change(screen.getByLabelText("Number of runs"), { target: { value: "ten" } });
    fireEvent.click(screen.getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(fieldError("Number of runs")).toBe("must be a whole number, 1 or more"));
    expect(within(screen.getByRole("group", { name: "Each run lasts" })).getByRole("alert").textContent).toBe(
      "must be longer than zero",
    );
    expect(onSubmit).not.toHaveBeenCalled();
  });

  it("says clearly when the key's role may not do it", async () => {
    const onSubmit = vi
      .fn()
      .mockRejectedValue(new ConnectError("the viewer role may not call CreateEvent", Code.PermissionDenied));
    render(<EventForm onSubmit={onSubmit} onCancel={() => {}} />);
    fireEvent.click(screen.getByRole("button", { name: "Create event" }));
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toBe("Your key's role may not do this (the viewer role may not call CreateEvent).");
  });
});

describe("what the event form sends", () => {
  it("creates a weekly event at 18:00 in the chosen zone, with the rule, duration and zone", async () => {
    const onSubmit = vi.fn().mockResolvedValue(undefined);
    render(<EventForm onSubmit={onSubmit} onCancel={() => {}} />);
    fireEvent.change(screen.getByLabelText("Title"), { target: { value: "Sunday Cup" } });
    fireEvent.click(screen.getByLabelText("Repeatedly"));
    fireEvent.change(screen.getByLabelText("Time zone"), { target: { value: "Europe/Berlin" } });
    for (const day of ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]) {
      const box = screen.getByLabelText(day) as HTMLInputElement;
      if (box.checked !== (day === "Sunday")) fireEvent.click(box);
    }
    fireEvent.change(screen.getByLabelText("First run on or after"), { target: { value: "2027-03-20" } });
    fireEvent.change(screen.getByLabelText("Time of day"), { target: { value: "18:00" } });
    fireEvent.click(screen.getByRole("button", { name: "Create event" }));
    await waitFor(() => expect(onSubmit).toHaveBeenCalled());
    const event = submitted(onSubmit);
    expect(event.startTime).toEqual(timestampFromMs(Date.UTC(2027, 2, 21, 17)));
    expect(event.endTime).toBeUndefined();
    expect(event.recurrence).toEqual({
      rule: "FREQ=WEEKLY;BYDAY=SU;BYHOUR=18;BYMINUTE=0",
      runDuration: { seconds: 7200n },
      timeZone: "Europe/Berlin",
    });
    expect(onSubmit.mock.calls[0]?.[1]).toBeUndefined();
  });

  it("sends only the changed fields as the update mask of an edit", async () => {
    const onSubmit = vi.fn().mockResolvedValue(undefined);
    render(<EventForm initial={withRewardsAndTiers} onSubmit={onSubmit} onCancel={() => {}} />);
    fireEvent.change(screen.getByLabelText("Title"), { target: { value: "Renamed" } });
    fireEvent.click(screen.getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(onSubmit).toHaveBeenCalled());
    expect(onSubmit.mock.calls[0]?.[1]).toEqual(["title"]);
    expect(submitted(onSubmit)).toMatchObject({ title: "Renamed" });
  });

  it("puts only the recurrence in the mask when the run length of a series changes", async () => {
    const onSubmit = vi.fn().mockResolvedValue(undefined);
    render(<EventForm initial={weekly} onSubmit={onSubmit} onCancel={() => {}} />);
    fireEvent.change(screen.getByLabelText("Minutes"), { target: { value: "30" } });
    fireEvent.click(screen.getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(onSubmit).toHaveBeenCalled());
    expect(onSubmit.mock.calls[0]?.[1]).toEqual(["recurrence"]);
    expect(submitted(onSubmit).recurrence).toEqual({
      rule: "FREQ=WEEKLY;BYDAY=SU;BYHOUR=18;BYMINUTE=0;COUNT=10",
      runDuration: { seconds: 9000n },
      timeZone: "Europe/Berlin",
    });
    expect(submitted(onSubmit).startTime).toBe(weekly.startTime);
  });
});

describe("the event form's locked fields", () => {
  const live = create(EventSchema, {
    ...weekly,
    status: EventStatus.ACTIVE,
    currentRun: create(EventRunSchema, { runNumber: 1n, startTime: weekly.startTime }),
  });

  it("disables a live event's schedule and leaderboard, saying why", () => {
    render(<EventForm initial={live} onSubmit={vi.fn()} onCancel={() => {}} />);
    expect(screen.getByText("Locked while the event is live: its first run has already started.")).toBeTruthy();
    expect(
      screen.getByText("Locked while the event is live: changing it would change the scores already submitted."),
    ).toBeTruthy();
    for (const label of ["Time zone", "Time of day", "First run on or after", "Hours", "Ranking", "Score operator"]) {
      expect([label, disabled(label)]).toEqual([label, true]);
    }
    expect(disabled("Title")).toBe(false);
  });

  it("keeps the run length and the end of a series between runs editable, its start locked", () => {
    const between = create(EventSchema, { ...weekly, status: EventStatus.BETWEEN_RUNS });
    render(<EventForm initial={between} onSubmit={vi.fn()} onCancel={() => {}} />);
    expect(disabled("First run on or after")).toBe(true);
    expect(disabled("Hours")).toBe(false);
    expect(disabled("Ranking")).toBe(false);
  });

  it("says what can still change in an ended event", () => {
    const ended = create(EventSchema, { ...weekly, status: EventStatus.ENDED });
    render(<EventForm initial={ended} onSubmit={vi.fn()} onCancel={() => {}} />);
    expect(
      screen.getByText(
        "This event has ended. You can still change its title, description, rewards and audiences; its schedule and leaderboard stay as they were.",
      ),
    ).toBeTruthy();
    expect([disabled("Time of day"), disabled("Hours"), disabled("Ranking"), disabled("Title")]).toEqual([
      true,
      true,
      true,
      false,
    ]);
  });
});
