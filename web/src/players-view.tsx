import { useMutation, useQuery } from "@connectrpc/connect-query";
import { keepPreviousData, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { type Player, PlayerService, type PropertyValue } from "../../gen/liveops/v1/player_service_pb.js";
import { ConfirmButton, ErrorNotice, Field, Loading, Pager, Time } from "./components.js";
import { fieldErrorsOf, retryUnlessRefused } from "./errors.js";

const PAGE_SIZE = 25;

const TYPE_NAMES: Record<NonNullable<PropertyValue["kind"]["case"]>, string> = {
  stringValue: "string",
  numberValue: "number",
  boolValue: "bool",
  timestampValue: "timestamp",
};

/** A property's value as people read it: strings quoted, numbers grouped, times in the viewer's zone. */
function PropertyText({ value }: { value: PropertyValue }) {
  switch (value.kind.case) {
    case "stringValue":
      return <q>{value.kind.value}</q>;
    case "numberValue":
      return <>{value.kind.value.toLocaleString(undefined, { maximumFractionDigits: 15 })}</>;
    case "boolValue":
      return <>{String(value.kind.value)}</>;
    case "timestampValue":
      return <Time value={value.kind.value} />;
    default:
      return <span className="muted">—</span>;
  }
}

/** One player's properties, by name, with their types. */
function PlayerDetail({ playerId, onClose }: { playerId: string; onClose: () => void }) {
  const player = useQuery(PlayerService.method.getPlayer, { playerId }, { retry: retryUnlessRefused });
  const remove = useMutation(PlayerService.method.deletePlayer);
  const queryClient = useQueryClient();
  const properties = Object.entries(player.data?.player?.properties ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return (
    <section className="panel" aria-labelledby="player-heading">
      <div className="toolbar">
        <h3 id="player-heading">
          Player <code>{playerId}</code>
        </h3>
        <ConfirmButton
          label="Delete player"
          danger
          question={`Delete “${playerId}” and its properties?`}
          onConfirm={async () => {
            await remove.mutateAsync({ playerId });
            onClose();
            await queryClient.invalidateQueries();
          }}
        />
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
      {player.isPending && <Loading what="the player" />}
      <ErrorNotice error={player.error} />
      {player.data?.player && (
        <>
          <p className="muted">
            Created <Time value={player.data.player.createTime} />, properties changed{" "}
            <Time value={player.data.player.updateTime} />
          </p>
          <div className="table-wrap">
            <table>
              <caption>Properties</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Type</th>
                  <th scope="col">Value</th>
                </tr>
              </thead>
              <tbody>
                {properties.length === 0 && (
                  <tr>
                    <td colSpan={3} className="muted">
                      No properties.
                    </td>
                  </tr>
                )}
                {properties.map(([name, value]) => (
                  <tr key={name} data-property={name}>
                    <td>
                      <code>{name}</code>
                    </td>
                    <td>{value.kind.case ? TYPE_NAMES[value.kind.case] : "unset"}</td>
                    <td>
                      <PropertyText value={value} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}

function PlayerRows({ players, onOpen }: { players: Player[]; onOpen: (id: string) => void }) {
  if (players.length === 0) {
    return (
      <tr>
        <td colSpan={4} className="muted">
          No players on this page.
        </td>
      </tr>
    );
  }
  return players.map((player) => (
    <tr key={player.id} data-player-id={player.id}>
      <td>
        <code>{player.id}</code>
      </td>
      <td>{Object.keys(player.properties).length}</td>
      <td>
        <Time value={player.createTime} />
      </td>
      <td>
        <button type="button" onClick={() => onOpen(player.id)} aria-label={`Open ${player.id}`}>
          Open
        </button>
      </td>
    </tr>
  ));
}

/** Players: search by id prefix and by a CEL filter, page by page, and one player's properties. */
export function PlayersView() {
  const [prefixInput, setPrefixInput] = useState("");
  const [filterInput, setFilterInput] = useState("");
  const [search, setSearch] = useState({ idPrefix: "", filter: "" });
  const [pages, setPages] = useState<string[]>([""]);
  const [open, setOpen] = useState<string>();
  const list = useQuery(
    PlayerService.method.listPlayers,
    { ...search, pageSize: PAGE_SIZE, pageToken: pages.at(-1) ?? "" },
    { retry: retryUnlessRefused, placeholderData: keepPreviousData },
  );
  const errors = fieldErrorsOf(list.error, "");
  const shownByField = errors.has("filter") || errors.has("id_prefix");

  function submit(e: FormEvent) {
    e.preventDefault();
    const next = { idPrefix: prefixInput.trim(), filter: filterInput.trim() };
    if (next.idPrefix === search.idPrefix && next.filter === search.filter && pages.length === 1) void list.refetch();
    setSearch(next);
    setPages([""]);
  }

  return (
    <section aria-labelledby="players-heading">
      <h2 id="players-heading">Players</h2>
      <form onSubmit={submit} aria-label="Search players" className="row" noValidate>
        <Field id="id-prefix" label="Id starts with" error={errors.get("id_prefix")}>
          <input
            id="id-prefix"
            value={prefixInput}
            onChange={(e) => setPrefixInput(e.target.value)}
            aria-invalid={errors.has("id_prefix")}
          />
        </Field>
        <Field
          id="player-filter"
          label="Filter (CEL)"
          error={errors.get("filter")}
          hint='e.g. player.properties.level >= 10.0 && player.properties.country == "FR"'
        >
          <input
            id="player-filter"
            className="code-input"
            value={filterInput}
            onChange={(e) => setFilterInput(e.target.value)}
            aria-invalid={errors.has("filter")}
          />
        </Field>
        <button type="submit" className="primary">
          Search
        </button>
      </form>
      {list.isPending && <Loading what="players" />}
      {!shownByField && <ErrorNotice error={list.error} />}
      {list.data && !list.error && (
        <>
          <div className="table-wrap">
            <table aria-busy={list.isFetching}>
              <thead>
                <tr>
                  <th scope="col">Id</th>
                  <th scope="col">Properties</th>
                  <th scope="col">Created</th>
                  <th scope="col">Details</th>
                </tr>
              </thead>
              <tbody>
                <PlayerRows players={list.data.players} onOpen={setOpen} />
              </tbody>
            </table>
          </div>
          {search.filter && list.data.nextPageToken && (
            <p className="muted">A filtered page may hold fewer players than the page size: the next may hold more.</p>
          )}
          <Pager pages={pages} setPages={setPages} nextPageToken={list.data.nextPageToken} />
        </>
      )}
      {open && <PlayerDetail key={open} playerId={open} onClose={() => setOpen(undefined)} />}
    </section>
  );
}
