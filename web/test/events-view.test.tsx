// @vitest-environment happy-dom
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AudienceService } from "../../gen/liveops/v1/audience_service_pb.js";
import { type Event, EventSchema, EventStatus } from "../../gen/liveops/v1/event_pb.js";
import { EventService, type ListEventsRequest } from "../../gen/liveops/v1/event_service_pb.js";
import { EventsView } from "../src/events-view.js";
import { renderWithServer } from "./render-with-server.js";

afterEach(cleanup);
beforeEach(() => window.history.replaceState(null, "", "#/events"));

const at = (day: number) => timestampFromDate(new Date(Date.UTC(2026, 5, day, 18)));
const events: Event[] = [
  create(EventSchema, { id: "e-live", title: "Spring Sprint", status: EventStatus.ACTIVE, startTime: at(1) }),
  create(EventSchema, { id: "e-soon", title: "Summer Cup", status: EventStatus.UPCOMING, startTime: at(3) }),
  create(EventSchema, { id: "e-old", title: "Past Cup", status: EventStatus.ENDED, endTime: at(1) }),
];

/** Renders the list over the events above, recording every ListEvents request. */
function renderEvents(canManage: boolean) {
  const requests: ListEventsRequest[] = [];
  renderWithServer(<EventsView canManage={canManage} />, (router) => {
    router.service(EventService, {
      listEvents(req) {
        requests.push(req);
        const matching = events.filter(
          (e) =>
            (req.statuses.length === 0 || req.statuses.includes(e.status)) &&
            e.title.toLowerCase().includes(req.titleQuery.toLowerCase()),
        );
        return {
          events: matching,
          totalSize: matching.length,
          statusCounts: [EventStatus.ACTIVE, EventStatus.UPCOMING, EventStatus.BETWEEN_RUNS, EventStatus.ENDED].map(
            (status) => ({ status, count: events.filter((e) => e.status === status).length }),
          ),
        };
      },
    });
    router.service(AudienceService, { listAudiences: () => ({ audiences: [] }) });
  });
  return requests;
}

const titlesIn = (section: string) =>
  within(screen.getByRole("region", { name: new RegExp(`^${section}`) }))
    .queryAllByRole("link")
    .map((link) => link.textContent);

describe("the events list", () => {
  it("asks for live, between-runs and upcoming events soonest first, then for ended ones newest first", async () => {
    const requests = renderEvents(false);
    await waitFor(() => expect(titlesIn("Live and upcoming")).toEqual(["Spring Sprint", "Summer Cup"]));
    await waitFor(() => expect(titlesIn("Ended")).toEqual(["Past Cup"]));
    expect(requests.map((r) => [r.statuses, r.orderBy, r.includeCounts])).toEqual([
      [[EventStatus.ACTIVE, EventStatus.BETWEEN_RUNS, EventStatus.UPCOMING], "start_time", true],
      [[EventStatus.ENDED], "end_time desc", true],
    ]);
    const sections = screen.getAllByRole("region").map((region) => region.getAttribute("aria-labelledby"));
    expect(sections).toHaveLength(2);
    expect(screen.getAllByRole("heading", { level: 3 }).map((h) => h.firstChild?.textContent)).toEqual([
      "Live and upcoming",
      "Ended",
    ]);
  });

  it("links each event to its page", async () => {
    renderEvents(false);
    const link = await screen.findByRole("link", { name: "Summer Cup" });
    expect(link.getAttribute("href")).toBe("#/events/e-soon");
  });

  it("shows the count of each status on its chip", async () => {
    renderEvents(false);
    const chips = screen.getByRole("group", { name: "Status" });
    await waitFor(() =>
      expect(
        within(chips)
          .getAllByRole("button")
          .map((b) => b.textContent),
      ).toEqual(["All3", "Live1", "Upcoming1", "Between runs0", "Ended1"]),
    );
  });

  it("filters by the chips chosen, in the URL, and asks only for the sections they leave", async () => {
    const requests = renderEvents(false);
    await screen.findByRole("link", { name: "Past Cup" });
    fireEvent.click(screen.getByRole("button", { name: /^Ended/ }));
    expect(window.location.hash).toBe("#/events?status=ended");
    await waitFor(() => expect(screen.queryByRole("region", { name: /^Live and upcoming/ })).toBeNull());
    fireEvent.click(screen.getByRole("button", { name: /^Live/ }));
    expect(window.location.hash).toBe("#/events?status=live,ended");
    await waitFor(() => expect(titlesIn("Live and upcoming")).toEqual(["Spring Sprint"]));
    expect(requests.at(-1)?.statuses).toEqual([EventStatus.ACTIVE]);
  });

  it("searches titles once typing pauses, and keeps the search in the URL", async () => {
    const requests = renderEvents(false);
    await screen.findByRole("link", { name: "Past Cup" });
    const box = screen.getByRole("searchbox", { name: "Search events by title" });
    fireEvent.change(box, { target: { value: "c" } });
    fireEvent.change(box, { target: { value: "cup" } });
    await waitFor(() => expect(titlesIn("Live and upcoming")).toEqual(["Summer Cup"]));
    expect(window.location.hash).toBe("#/events?q=cup");
    expect(requests.map((r) => r.titleQuery)).toEqual(["", "", "cup", "cup"]);
  });

  it("offers operators a New event button that opens the form, and viewers none", async () => {
    renderEvents(false);
    await screen.findByRole("link", { name: "Past Cup" });
    expect(screen.queryByRole("button", { name: "New event" })).toBeNull();
    cleanup();
    renderEvents(true);
    fireEvent.click(await screen.findByRole("button", { name: "New event" }));
    expect(await screen.findByRole("form", { name: "Create event" })).toBeTruthy();
  });
});
