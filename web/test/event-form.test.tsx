// @vitest-environment happy-dom
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";
import { EventSchema, LeaderboardOrder, ScoreOperator } from "../../gen/liveops/v1/event_pb.js";
import { EventForm } from "../src/event-form.js";

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

const withRewardsAndTiers = create(EventSchema, {
  id: "00000000-0000-4000-8000-000000000001",
  title: "Cup",
  rewards: [{ id: "gems", name: "Gems", quantity: 0n }],
  leaderboard: {
    order: LeaderboardOrder.HIGHER_FIRST,
    scoreOperator: ScoreOperator.BEST,
    prizeTiers: [{ rankFrom: 2, rankTo: 1, rewards: [{ id: "gold", name: "Gold", quantity: 1n }] }],
  },
});

describe("the event form", () => {
  it("shows each server violation next to the field it names", async () => {
    const onSubmit = vi.fn().mockRejectedValue(
      invalid([
        ["event.title", "is required"],
        ["event.end_time", "must be after start_time"],
        ["event.recurrence.rule", "FREQ is required"],
      ]),
    );
    render(<EventForm onSubmit={onSubmit} onCancel={() => {}} />);
    fireEvent.click(screen.getByLabelText("Recurring"));
    fireEvent.click(screen.getByRole("button", { name: "Create event" }));
    await waitFor(() => expect(fieldError("Title")).toBe("is required"));
    expect(fieldError("End of the series (optional)")).toBe("must be after start_time");
    expect(fieldError("Recurrence rule (RFC 5545, UTC)")).toBe("FREQ is required");
    expect(fieldError("Description")).toBeUndefined();
    expect(screen.getByLabelText("Title").getAttribute("aria-invalid")).toBe("true");
    // All violations are shown by their fields: no general error above the form.
    expect(screen.queryByText("invalid")).toBeNull();
  });

  it("shows reward and prize tier violations by their rows", async () => {
    const onSubmit = vi.fn().mockRejectedValue(
      invalid([
        ["event.rewards[0].quantity", "must be greater than 0"],
        ["event.leaderboard.prize_tiers[0].rank_to", "must be at least rank_from"],
      ]),
    );
    render(<EventForm initial={withRewardsAndTiers} onSubmit={onSubmit} onCancel={() => {}} />);
    fireEvent.click(screen.getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(fieldError("Reward 1 quantity")).toBe("must be greater than 0"));
    expect(fieldError("Reward 1 name")).toBeUndefined();
    const tier = screen.getByLabelText("Tier 1: to rank").closest(".tier") as HTMLElement;
    expect(within(tier).getByRole("alert").textContent).toBe(".rank_to: must be at least rank_from");
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

  it("sends only the changed fields as the update mask of an edit", async () => {
    const onSubmit = vi.fn().mockResolvedValue(undefined);
    render(<EventForm initial={withRewardsAndTiers} onSubmit={onSubmit} onCancel={() => {}} />);
    fireEvent.change(screen.getByLabelText("Title"), { target: { value: "Renamed" } });
    fireEvent.click(screen.getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(onSubmit).toHaveBeenCalled());
    expect(onSubmit.mock.calls[0]?.[1]).toEqual(["title"]);
    expect(onSubmit.mock.calls[0]?.[0]).toMatchObject({ title: "Renamed" });
  });
});
