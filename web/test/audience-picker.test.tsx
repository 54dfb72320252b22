// @vitest-environment happy-dom
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";
import { AudienceSchema } from "../../gen/liveops/v1/audience_service_pb.js";
import { EventSchema } from "../../gen/liveops/v1/event_pb.js";
import type { AudienceChoices } from "../src/audience-picker.js";
import { EventForm } from "../src/event-form.js";

afterEach(cleanup);

const choices: AudienceChoices = {
  audiences: [
    create(AudienceSchema, { name: "vip", description: "Big spenders", expression: "player.properties.spent > 100.0" }),
    create(AudienceSchema, { name: "whales", expression: "player.properties.spent > 1000.0" }),
    create(AudienceSchema, { name: "cheaters", includePlayerIds: ["p-666"] }),
  ],
};

/** The checkbox of `name` in the picker whose legend is `legend`. */
function box(legend: string, name: string) {
  return within(screen.getByRole("group", { name: legend })).getByLabelText(name) as HTMLInputElement;
}

const targeted = create(EventSchema, {
  id: "00000000-0000-4000-8000-000000000001",
  title: "Cup",
  audiences: ["vip"],
  excludedAudiences: ["cheaters"],
});

describe("the audience pickers of the event form", () => {
  it("offer every listed audience in both lists, with its description", () => {
    render(<EventForm audienceChoices={choices} onSubmit={vi.fn()} onCancel={() => {}} />);
    for (const legend of ["For audiences", "Excluded audiences"]) {
      for (const name of ["vip", "whales", "cheaters"]) expect(box(legend, name).checked).toBe(false);
    }
    expect(within(screen.getByRole("group", { name: "For audiences" })).getByText("Big spenders")).toBeTruthy();
  });

  it("write the ticked audiences as the new event's audiences and excluded audiences", async () => {
    const onSubmit = vi.fn().mockResolvedValue(undefined);
    render(<EventForm audienceChoices={choices} onSubmit={onSubmit} onCancel={() => {}} />);
    fireEvent.click(box("For audiences", "vip"));
    fireEvent.click(box("For audiences", "whales"));
    fireEvent.click(box("Excluded audiences", "cheaters"));
    fireEvent.click(screen.getByRole("button", { name: "Create event" }));
    await waitFor(() => expect(onSubmit).toHaveBeenCalled());
    expect(onSubmit.mock.calls[0]?.[0]).toMatchObject({
      audiences: ["vip", "whales"],
      excludedAudiences: ["cheaters"],
    });
    expect(onSubmit.mock.calls[0]?.[1]).toBeUndefined();
  });

  it("show an event's audiences ticked, and put only a changed list in the update mask", async () => {
    const onSubmit = vi.fn().mockResolvedValue(undefined);
    render(<EventForm initial={targeted} audienceChoices={choices} onSubmit={onSubmit} onCancel={() => {}} />);
    expect(box("For audiences", "vip").checked).toBe(true);
    expect(box("Excluded audiences", "cheaters").checked).toBe(true);
    fireEvent.click(box("For audiences", "vip"));
    fireEvent.click(box("For audiences", "whales"));
    fireEvent.click(screen.getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(onSubmit).toHaveBeenCalled());
    expect(onSubmit.mock.calls[0]?.[1]).toEqual(["audiences"]);
    expect(onSubmit.mock.calls[0]?.[0]).toMatchObject({ audiences: ["whales"], excludedAudiences: ["cheaters"] });
  });

  it("leave both lists out of the update mask when they are ticked as they were, in another order", async () => {
    const onSubmit = vi.fn().mockResolvedValue(undefined);
    const both = create(EventSchema, { ...targeted, audiences: ["vip", "whales"] });
    render(<EventForm initial={both} audienceChoices={choices} onSubmit={onSubmit} onCancel={() => {}} />);
    fireEvent.click(box("For audiences", "vip"));
    fireEvent.click(box("For audiences", "vip"));
    fireEvent.click(box("Excluded audiences", "whales"));
    fireEvent.click(screen.getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(onSubmit).toHaveBeenCalled());
    expect(onSubmit.mock.calls[0]?.[1]).toEqual(["excluded_audiences"]);
  });

  it("keep an audience the event names even when the list lacks it, so that it can be unticked", () => {
    const gone = create(EventSchema, { ...targeted, audiences: ["retired"] });
    render(<EventForm initial={gone} audienceChoices={choices} onSubmit={vi.fn()} onCancel={() => {}} />);
    expect(box("For audiences", "retired").checked).toBe(true);
    expect(
      within(screen.getByRole("group", { name: "For audiences" })).getByText("not in the list of audiences"),
    ).toBeTruthy();
  });

  it("show the server's violation of an audience under its picker, named", async () => {
    const onSubmit = vi.fn().mockRejectedValue(
      new ConnectError("invalid", Code.InvalidArgument, undefined, [
        {
          desc: BadRequestSchema,
          value: create(BadRequestSchema, {
            fieldViolations: [{ field: "event.excluded_audiences[1]", description: "is not an audience" }],
          }),
        },
      ]),
    );
    render(<EventForm audienceChoices={choices} onSubmit={onSubmit} onCancel={() => {}} />);
    fireEvent.click(box("Excluded audiences", "cheaters"));
    fireEvent.click(box("Excluded audiences", "whales"));
    fireEvent.click(screen.getByRole("button", { name: "Create event" }));
    const group = screen.getByRole("group", { name: "Excluded audiences" });
    await waitFor(() => expect(within(group).getByRole("alert").textContent).toBe("“whales”: is not an audience"));
    expect(within(screen.getByRole("group", { name: "For audiences" })).queryByRole("alert")).toBeNull();
    expect(screen.queryByText("invalid")).toBeNull();
  });

  it("say why the audiences could not be listed", () => {
    const refused = new ConnectError("the viewer role may not call ListAudiences", Code.PermissionDenied);
    render(<EventForm audienceChoices={{ audiences: [], error: refused }} onSubmit={vi.fn()} onCancel={() => {}} />);
    const group = screen.getByRole("group", { name: "For audiences" });
    expect(within(group).getByRole("alert").textContent).toBe(
      "Your key's role may not do this (the viewer role may not call ListAudiences).",
    );
  });
});
