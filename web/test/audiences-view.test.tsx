// @vitest-environment happy-dom
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import {
  AudienceSchema,
  AudienceService,
  type UpdateAudienceRequest,
} from "../../gen/liveops/v1/audience_service_pb.js";
import { PlayerSchema } from "../../gen/liveops/v1/player_service_pb.js";
import { AudiencesView } from "../src/audiences-view.js";
import { renderWithServer } from "./render-with-server.js";

afterEach(cleanup);

const vip = create(AudienceSchema, {
  name: "vip",
  description: "Big spenders",
  expression: "player.properties.spent > 100.0",
  etag: "e1",
});

/** AudienceService with one audience, which an event targets. */
function renderAudiences(updates: UpdateAudienceRequest[] = []) {
  return renderWithServer(<AudiencesView />, (router) =>
    router.service(AudienceService, {
      listAudiences: () => ({ audiences: [vip] }),
      previewAudience: () => ({
        matchingPlayers: 2n,
        scannedPlayers: 3n,
        complete: true,
        sample: [create(PlayerSchema, { id: "p-1" }), create(PlayerSchema, { id: "p-2" })],
      }),
      updateAudience(req) {
        updates.push(req);
        return { audience: req.audience };
      },
      deleteAudience() {
        throw new ConnectError(
          "audience vip is named by event e-1: remove it from the event's audiences first",
          Code.FailedPrecondition,
          undefined,
          [{ desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason: "AUDIENCE_IN_USE", domain: "liveops" }) }],
        );
      },
    }),
  );
}

describe("the audiences view", () => {
  it("asks before deleting, and says why an audience that an event targets stays", async () => {
    renderAudiences();
    const row = (await screen.findByText("vip")).closest("tr") as HTMLElement;
    fireEvent.click(within(row).getByRole("button", { name: "Delete" }));
    expect(within(row).getByText("Delete the audience “vip”?")).toBeTruthy();
    fireEvent.click(within(row).getByRole("button", { name: "Yes, delete" }));
    const alert = await within(row).findByRole("alert");
    expect(alert.textContent).toBe("audience vip is named by event e-1: remove it from the event's audiences first");
  });

  it("previews the audience being edited with a sample of its players", async () => {
    renderAudiences();
    fireEvent.click(await screen.findByRole("button", { name: "Edit" }));
    await waitFor(() => expect(screen.getByRole("status").textContent).toBe("2 of 3 players match — e.g. p-1, p-2"));
  });

  it("saves an edit under its name with the etag it was read with", async () => {
    const updates: UpdateAudienceRequest[] = [];
    renderAudiences(updates);
    fireEvent.click(await screen.findByRole("button", { name: "Edit" }));
    fireEvent.change(screen.getByLabelText("Description"), { target: { value: "Spent over 100" } });
    fireEvent.click(screen.getByRole("button", { name: "Save changes" }));
    await screen.findByRole("heading", { name: "Audiences" });
    expect(updates).toHaveLength(1);
    expect(updates[0]?.audience).toMatchObject({
      name: "vip",
      etag: "e1",
      description: "Spent over 100",
      expression: "player.properties.spent > 100.0",
    });
  });
});
