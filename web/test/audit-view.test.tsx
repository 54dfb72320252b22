// @vitest-environment happy-dom
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ApiKeySchema, Role } from "../../gen/liveops/v1/api_key_pb.js";
import { ApiKeyService } from "../../gen/liveops/v1/api_key_service_pb.js";
import {
  type AuditEntry,
  AuditEntrySchema,
  AuditService,
  type ListAuditEntriesRequest,
} from "../../gen/liveops/v1/audit_service_pb.js";
import { EventSchema } from "../../gen/liveops/v1/event_pb.js";
import { EventService } from "../../gen/liveops/v1/event_service_pb.js";
import { AuditChanges, LONG_VALUE, valueText } from "../src/audit-changes.js";
import { AuditView, actionWords } from "../src/audit-view.js";
import { renderWithServer } from "./render-with-server.js";

afterEach(cleanup);
beforeEach(() => window.history.replaceState(null, "", "#/audit"));

const EVENT = "0d7c2a4e-8a4b-4c8e-9a43-2f3b7f0d9a11";
const GONE = "5b1e9f63-1c7a-4a7e-bf2a-0f6c3c1d2e44";
const at = timestampFromDate(new Date(Date.UTC(2026, 5, 1, 12)));

const entries: AuditEntry[] = [
  create(AuditEntrySchema, {
    id: "3",
    time: at,
    actorKeyId: "aaaaaaaaaaaaaaaa",
    method: "/liveops.v1.EventAdminService/UpdateEvent",
    targetType: "event",
    targetId: EVENT,
    changes: { title: { before: "Cup", after: "Grand Cup" } },
  }),
  create(AuditEntrySchema, {
    id: "2",
    time: at,
    actorKeyId: "ffffffffffffffff",
    method: "/liveops.v1.EventAdminService/DeleteEvent",
    targetType: "event",
    targetId: GONE,
    changes: { title: { before: "Old Cup" }, end_time: { before: null } },
  }),
  create(AuditEntrySchema, {
    id: "1",
    time: at,
    actorKeyId: "aaaaaaaaaaaaaaaa",
    method: "/liveops.v1.ApiKeyService/RevokeApiKey",
    targetType: "api_key",
    targetId: "bbbbbbbbbbbbbbbb",
    changes: { revoke_time: { before: null, after: "2026-06-01T12:00:00.000Z" } },
  }),
];

function renderAudit(requests: ListAuditEntriesRequest[] = []) {
  return renderWithServer(<AuditView />, (router) => {
    router.service(AuditService, {
      listAuditEntries(req) {
        requests.push(req);
        const bare = (m: string) => m.split("/").pop();
        return { entries: entries.filter((e) => !req.method || bare(e.method) === req.method) };
      },
    });
    router.service(ApiKeyService, {
      listApiKeys: () => ({
        apiKeys: [
          create(ApiKeySchema, { id: "aaaaaaaaaaaaaaaa", name: "ops admin", role: Role.ADMIN }),
          create(ApiKeySchema, { id: "bbbbbbbbbbbbbbbb", name: "old bot", role: Role.VIEWER }),
        ],
      }),
    });
    router.service(EventService, {
      getEvent(req) {
        if (req.id !== EVENT) throw new ConnectError(`event ${req.id} not found`, Code.NotFound);
        return { event: create(EventSchema, { id: EVENT, title: "Grand Cup" }) };
      },
    });
  });
}

const summaries = () =>
  [...document.querySelectorAll("li.audit-entry")].map((li) => li.querySelector(".audit-summary")?.textContent);

describe("the audit log", () => {
  it("says what a method did in words", () => {
    expect(actionWords("/liveops.v1.EventAdminService/UpdateEvent")).toBe("Updated event");
    expect(actionWords("/liveops.v1.ApiKeyService/RevokeApiKey")).toBe("Revoked key");
    expect(actionWords("/liveops.v1.FutureService/ArchiveSeason")).toBe("Archive season");
  });

  it("names actors and targets: key names, event titles, a deleted event by its last title", async () => {
    renderAudit();
    await waitFor(() =>
      expect(summaries()).toEqual([
        "Updated event “Grand Cup”",
        "Deleted event “Old Cup” (deleted)",
        "Revoked key “old bot”",
      ]),
    );
    const actors = [...document.querySelectorAll(".audit-actor")].map((a) => a.textContent);
    expect(actors).toEqual(["ops admin", "deleted key ffffffff", "ops admin"]);
  });

  it("sends the action filter as the method's name and keeps it in the address", async () => {
    const requests: ListAuditEntriesRequest[] = [];
    renderAudit(requests);
    await waitFor(() => expect(summaries()).toHaveLength(3));
    fireEvent.change(screen.getByLabelText("Action"), { target: { value: "RevokeApiKey" } });
    await waitFor(() => expect(summaries()).toEqual(["Revoked key “old bot”"]));
    expect(requests.at(-1)?.method).toBe("RevokeApiKey");
    expect(window.location.hash).toBe("#/audit?action=RevokeApiKey");
  });

  it("refuses a time range that ends before it starts, on the end's input", async () => {
    renderAudit();
    fireEvent.change(screen.getByLabelText(/^From/), { target: { value: "2026-06-02T00:00" } });
    fireEvent.change(screen.getByLabelText(/^Until/), { target: { value: "2026-06-01T00:00" } });
    fireEvent.click(screen.getByRole("button", { name: "Apply" }));
    const field = screen.getByLabelText(/^Until/).closest(".field") as HTMLElement;
    expect(within(field).getByRole("alert").textContent).toBe("Must be after the start of the range.");
  });
});

describe("an entry's changes", () => {
  it("shows each changed field's label with its old and new value, times in the viewer's zone", () => {
    render(
      <AuditChanges
        targetType="api_key"
        method="UpdateApiKey"
        changes={{
          rate_limit: { before: null, after: { per_second: 20, burst: 40 } },
          expire_time: { before: "2026-06-01T12:00:00.000Z", after: null },
        }}
      />,
    );
    const rows = [...document.querySelectorAll(".audit-change")].map((c) => [
      c.querySelector("dt")?.textContent,
      c.querySelector("dd")?.textContent,
    ]);
    expect(rows).toEqual([
      ["Rate limit", "before: default for the role → after: 20 req/s, burst 40"],
      ["Expiry", `before: ${new Date(Date.UTC(2026, 5, 1, 12)).toLocaleString()} → after: never`],
    ]);
  });

  it("shows a created target's values that are set, without the unset ones", () => {
    render(
      <AuditChanges
        targetType="event"
        method="CreateEvent"
        changes={{
          title: { after: "Cup" },
          description: { after: "" },
          audiences: { after: [] },
          end_time: { after: null },
        }}
      />,
    );
    expect(screen.getByText("Created with:")).toBeTruthy();
    expect([...document.querySelectorAll(".audit-change dt")].map((dt) => dt.textContent)).toEqual(["Title"]);
  });

  it("cuts a long value, and shows it whole when asked", () => {
    const long = "x".repeat(LONG_VALUE + 30);
    render(
      <AuditChanges targetType="event" method="UpdateEvent" changes={{ description: { before: "", after: long } }} />,
    );
    const button = screen.getByRole("button", { name: `Show all ${long.length} characters` });
    expect(document.querySelector(".audit-after")?.textContent).not.toContain(long);
    fireEvent.click(button);
    expect(document.querySelector(".audit-after")?.textContent).toContain(long);
    expect(screen.getByRole("button", { name: "Show less" }).getAttribute("aria-expanded")).toBe("true");
  });

  it("words a schedule, lists and unset values", () => {
    expect(
      valueText("recurrence", { rule: "FREQ=DAILY", run_duration_ms: 5_400_000, time_zone: "Europe/Berlin" }),
    ).toBe("FREQ=DAILY, runs of 1 h 30 min, in Europe/Berlin");
    expect(valueText("audiences", ["vip", "fr"])).toBe("vip, fr");
    expect(valueText("end_time", null)).toBe("no end");
  });
});
