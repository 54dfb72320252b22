// @vitest-environment happy-dom
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";
import { type ApiKey, ApiKeySchema, ApiKeyState, Role } from "../../gen/liveops/v1/api_key_pb.js";
import { ApiKeyService, type UpdateApiKeyRequest } from "../../gen/liveops/v1/api_key_service_pb.js";
import { KeysView, relativeTime } from "../src/keys-view.js";
import { renderWithServer } from "./render-with-server.js";

afterEach(cleanup);

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const keys: ApiKey[] = [
  create(ApiKeySchema, {
    id: "aaaaaaaaaaaaaaaa",
    name: "match server",
    role: Role.GAME_SERVER,
    state: ApiKeyState.ACTIVE,
    expireTime: timestampFromDate(new Date(Date.now() + 3 * DAY + HOUR)),
    rateLimit: { requestsPerSecond: 20, burst: 40 },
  }),
  create(ApiKeySchema, { id: "bbbbbbbbbbbbbbbb", name: "me", role: Role.ADMIN, state: ApiKeyState.ACTIVE }),
];

/** A refusal of the inputs, as the server words it. */
const refused = (field: string, description: string) =>
  new ConnectError(`${field}: ${description}`, Code.InvalidArgument, undefined, [
    { desc: BadRequestSchema, value: create(BadRequestSchema, { fieldViolations: [{ field, description }] }) },
  ]);

function renderKeys(updates: UpdateApiKeyRequest[] = []) {
  return renderWithServer(<KeysView currentKeyId="bbbbbbbbbbbbbbbb" />, (router) =>
    router.service(ApiKeyService, {
      listApiKeys: () => ({ apiKeys: keys }),
      createApiKey(req) {
        if (req.rateLimit?.burst === 999)
          throw refused("rate_limit.burst", "must be from requests_per_second to 1000000");
        return { apiKey: { name: req.name }, secret: "lo_cccccccccccccccc_secret" };
      },
      updateApiKey(req) {
        updates.push(req);
        return { apiKey: req.apiKey };
      },
    }),
  );
}

/** The text of a row's cell under the column `name`. */
function column(row: HTMLElement, name: string) {
  const headers = [...document.querySelectorAll("thead th")].map((th) => th.textContent);
  return row.querySelectorAll("th, td")[headers.indexOf(name)]?.textContent;
}

const errorUnder = (label: string | RegExp) =>
  within(screen.getByLabelText(label).closest(".field") as HTMLElement).queryByRole("alert")?.textContent;

describe("the API keys view", () => {
  it("says how far a time is in the largest unit that fits", () => {
    const now = Date.UTC(2026, 5, 1);
    expect(relativeTime(now + 3 * DAY + HOUR, now)).toBe("in 3 days");
    expect(relativeTime(now - 2 * HOUR, now)).toBe("2 hours ago");
    expect(relativeTime(now + 90 * 60_000, now)).toBe("in 2 hours");
  });

  it("shows each key's expiry and rate limit in words, and marks the key in use", async () => {
    renderKeys();
    const row = (await screen.findByRole("rowheader", { name: /^match server/ })).closest("tr") as HTMLElement;
    expect(column(row, "Expiry")).toBe("expires in 3 days");
    expect(column(row, "Rate limit")).toBe("20 req/s, burst 40");
    const mine = screen.getByRole("rowheader", { name: /^me/ }).closest("tr") as HTMLElement;
    expect(within(mine).getByText("signed in")).toBeTruthy();
    expect(column(mine, "Expiry")).toBe("never");
    expect(column(mine, "Rate limit")).toBe("default for the role");
  });

  it("puts the server's refusal of an input under that input, in the form's words", async () => {
    renderKeys();
    fireEvent.change(screen.getByLabelText("Name"), { target: { value: "bot" } });
    fireEvent.click(screen.getByLabelText("Its own limit"));
    fireEvent.change(screen.getByLabelText("Requests per second"), { target: { value: "20" } });
    fireEvent.change(screen.getByLabelText("Burst"), { target: { value: "999" } });
    fireEvent.click(screen.getByRole("button", { name: "Create key" }));
    await waitFor(() => expect(errorUnder("Burst")).toBe("Must be from the requests per second to 1000000."));
    expect(screen.getAllByRole("alert")).toHaveLength(1);
    expect(screen.queryByTestId("new-secret")).toBeNull();
  });

  it("shows a new key's secret once, with the warning that it will not be shown again", async () => {
    renderKeys();
    fireEvent.change(screen.getByLabelText("Name"), { target: { value: "bot" } });
    fireEvent.click(screen.getByRole("button", { name: "Create key" }));
    expect((await screen.findByTestId("new-secret")).textContent).toBe("lo_cccccccccccccccc_secret");
    expect(screen.getByText(/it will not be shown again/)).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "I have copied it" }));
    expect(screen.queryByTestId("new-secret")).toBeNull();
  });

  it("sends only the changed rate limit in the update mask", async () => {
    const updates: UpdateApiKeyRequest[] = [];
    renderKeys(updates);
    fireEvent.click(await screen.findByRole("button", { name: "Edit match server" }));
    const dialog = screen.getByRole("dialog");
    fireEvent.change(within(dialog).getByLabelText("Burst"), { target: { value: "60" } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(updates).toHaveLength(1));
    expect(updates[0]?.updateMask?.paths).toEqual(["rate_limit"]);
    expect(updates[0]?.apiKey?.rateLimit).toMatchObject({ requestsPerSecond: 20, burst: 60 });
  });

  it("warns before revoking the key in use that the dashboard will be signed out", async () => {
    renderKeys();
    fireEvent.click(await screen.findByRole("button", { name: "Revoke match server" }));
    expect(screen.queryByTestId("revoke-own-key-warning")).toBeNull();
    fireEvent.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Cancel" }));
    fireEvent.click(screen.getByRole("button", { name: "Revoke me" }));
    const dialog = screen.getByRole("dialog");
    expect(within(dialog).getByTestId("revoke-own-key-warning").textContent).toContain("signs the dashboard out");
    expect(within(dialog).getByRole("button", { name: "Revoke and sign out" })).toBeTruthy();
  });
});
