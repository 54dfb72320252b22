// @vitest-environment happy-dom
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";
import { PlayerSchema, PlayerService } from "../../gen/liveops/v1/player_service_pb.js";
import { PlayersView } from "../src/players-view.js";
import { renderWithServer } from "./render-with-server.js";

afterEach(cleanup);

const seen = new Date(Date.UTC(2026, 5, 6, 18, 30));
const players = [
  create(PlayerSchema, {
    id: "p-1",
    properties: {
      country: { kind: { case: "stringValue", value: "FR" } },
      spent: { kind: { case: "numberValue", value: 1250.5 } },
      vip: { kind: { case: "boolValue", value: true } },
      last_seen: { kind: { case: "timestampValue", value: timestampFromDate(seen) } },
    },
  }),
  create(PlayerSchema, { id: "p-2", properties: { country: { kind: { case: "stringValue", value: "DE" } } } }),
  create(PlayerSchema, { id: "q-3" }),
];

/** PlayerService over the players above; a filter ending in an operator does not compile. */
function renderPlayers() {
  return renderWithServer(<PlayersView />, (router) =>
    router.service(PlayerService, {
      listPlayers(req) {
        if (/[=<>]\s*$/.test(req.filter)) {
          throw new ConnectError("filter: 1:26: Unexpected token: EOF", Code.InvalidArgument, undefined, [
            {
              desc: BadRequestSchema,
              value: create(BadRequestSchema, {
                fieldViolations: [{ field: "filter", description: "1:26: Unexpected token: EOF" }],
              }),
            },
          ]);
        }
        return { players: players.filter((p) => p.id.startsWith(req.idPrefix)) };
      },
      getPlayer(req) {
        const player = players.find((p) => p.id === req.playerId);
        if (!player) throw new ConnectError(`player ${req.playerId} not found`, Code.NotFound);
        return { player };
      },
    }),
  );
}

const ids = () => screen.queryAllByRole("row").flatMap((row) => row.getAttribute("data-player-id") ?? []);

describe("the players view", () => {
  it("lists players with their property counts, and those whose id starts with a prefix", async () => {
    renderPlayers();
    await waitFor(() => expect(ids()).toEqual(["p-1", "p-2", "q-3"]));
    const first = screen.getAllByRole("row")[1] as HTMLElement;
    expect(within(first).getAllByRole("cell")[1]?.textContent).toBe("4");
    fireEvent.change(screen.getByLabelText("Id starts with"), { target: { value: "p-" } });
    fireEvent.click(screen.getByRole("button", { name: "Search" }));
    await waitFor(() => expect(ids()).toEqual(["p-1", "p-2"]));
  });

  it("shows a filter's compile error, with its position, under the filter", async () => {
    renderPlayers();
    await waitFor(() => expect(ids()).toHaveLength(3));
    fireEvent.change(screen.getByLabelText("Filter (CEL)"), { target: { value: "player.properties.level >" } });
    fireEvent.click(screen.getByRole("button", { name: "Search" }));
    const field = screen.getByLabelText("Filter (CEL)").closest(".field") as HTMLElement;
    await waitFor(() => expect(within(field).queryByRole("alert")?.textContent).toBe("1:26: Unexpected token: EOF"));
    expect(screen.getAllByRole("alert")).toHaveLength(1);
    expect(screen.getByLabelText("Filter (CEL)").getAttribute("aria-invalid")).toBe("true");
  });

  it("shows a player's properties by name, with their types, formatted", async () => {
    renderPlayers();
    fireEvent.click(await screen.findByRole("button", { name: "Open p-1" }));
    const table = await screen.findByRole("table", { name: "Properties" });
    await waitFor(() => expect(within(table).getAllByRole("row")).toHaveLength(5));
    const cells = within(table)
      .getAllByRole("row")
      .slice(1)
      .map((row) =>
        within(row)
          .getAllByRole("cell")
          .map((cell) => cell.textContent),
      );
    expect(cells).toEqual([
      ["country", "string", "FR"],
      ["last_seen", "timestamp", seen.toLocaleString()],
      ["spent", "number", (1250.5).toLocaleString()],
      ["vip", "bool", "true"],
    ]);
  });
});
