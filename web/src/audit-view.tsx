import type { JsonObject } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { useQuery } from "@connectrpc/connect-query";
import { keepPreviousData } from "@tanstack/react-query";
import { FilterX } from "lucide-react";
import { type FormEvent, useEffect, useState } from "react";
import type { ApiKey } from "../../gen/liveops/v1/api_key_pb.js";
import { ApiKeyService } from "../../gen/liveops/v1/api_key_service_pb.js";
import { type AuditEntry, AuditService } from "../../gen/liveops/v1/audit_service_pb.js";
import { EventService } from "../../gen/liveops/v1/event_service_pb.js";
import { AuditChanges } from "./audit-changes.js";
import { ErrorNotice, Field, Loading, Pager, Time } from "./components.js";
import { fieldErrorsOf, retryUnlessRefused } from "./errors.js";
import { inWords, localInputValue, ROLE_LABELS, viewerTimeZone } from "./key-fields.js";
import "./audit-view.css";

const PAGE_SIZE = 25;

/** The methods that write the audit log, by their name alone (what the action filter sends), in words. */
export const ACTIONS: { group: string; actions: [method: string, words: string][] }[] = [
  {
    group: "Events",
    actions: [
      ["CreateEvent", "Created event"],
      ["UpdateEvent", "Updated event"],
      ["EndEvent", "Ended event"],
      ["DeleteEvent", "Deleted event"],
    ],
  },
  {
    group: "API keys",
    actions: [
      ["CreateApiKey", "Created key"],
      ["UpdateApiKey", "Updated key"],
      ["RotateApiKey", "Rotated key"],
      ["RevokeApiKey", "Revoked key"],
      ["first start", "Created the first admin key"],
    ],
  },
  {
    group: "Audiences",
    actions: [
      ["CreateAudience", "Created audience"],
      ["UpdateAudience", "Updated audience"],
      ["DeleteAudience", "Deleted audience"],
    ],
  },
  {
    group: "Players",
    actions: [
      ["SetPlayerProperties", "Set player properties"],
      ["DeletePlayer", "Deleted player"],
      ["CreatePlayerToken", "Created player (for a token)"],
      ["RotatePlayerTokenKey", "Rotated the player token signing key"],
    ],
  },
];
const ACTION_WORDS = new Map(ACTIONS.flatMap((g) => g.actions));

/** A method's name alone: "/liveops.v1.EventAdminService/UpdateEvent" → "UpdateEvent". */
export const bareMethod = (method: string) => method.split("/").pop() ?? method;

/** What a method did, in words: "Updated event"; a method not listed, its name split into words. */
export function actionWords(method: string): string {
  const bare = bareMethod(method);
  const known = ACTION_WORDS.get(bare);
  if (known) return known;
  const words = bare.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
  return `${words.charAt(0).toUpperCase()}${words.slice(1)}`;
}

const TARGET_TYPES: [type: string, words: string][] = [
  ["event", "Events"],
  ["api_key", "API keys"],
  ["audience", "Audiences"],
  ["player", "Players"],
  ["player_token_key", "Player token signing keys"],
];

/** Actors that are not keys (src/keys/cli.ts, src/keys/key-store.ts). */
/** The actors of audit entries that are not keys: the keys CLI, and the server itself (its first start). */
export const NON_KEY_ACTORS: Record<string, string> = { cli: "the keys command-line tool", server: "the server" };

const shortId = (id: string) => id.slice(0, 8);

/** The filters of the log, as the URL's hash holds them (#/audit?actor=…&action=…&type=…&target=…&from=…&to=…). */
interface AuditFilters {
  actor: string;
  action: string;
  type: string;
  target: string;
  /** ISO times (UTC), or "". */
  from: string;
  to: string;
}
const FILTER_NAMES = ["actor", "action", "type", "target", "from", "to"] as const;

function filtersFromHash(): AuditFilters {
  const hash = window.location.hash;
  const query = new URLSearchParams(hash.includes("?") ? hash.slice(hash.indexOf("?") + 1) : "");
  return Object.fromEntries(FILTER_NAMES.map((name) => [name, query.get(name) ?? ""])) as unknown as AuditFilters;
}

/**
 * The filters in the URL's hash, and a function that changes them. The hash is replaced, not pushed: the view stays
 * where it is, and the address can be shared or reloaded.
 */
function useHashFilters(): [AuditFilters, (next: AuditFilters) => void] {
  const [filters, setFilters] = useState(filtersFromHash);
  useEffect(() => {
    const onChange = () => setFilters(filtersFromHash());
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  const change = (next: AuditFilters) => {
    const query = new URLSearchParams(FILTER_NAMES.flatMap((name) => (next[name] ? [[name, next[name]]] : [])));
    const text = query.toString();
    window.history.replaceState(window.history.state, "", `#/audit${text ? `?${text}` : ""}`);
    setFilters(next);
  };
  return [filters, change];
}

/** Every key by id (the largest page ListApiKeys gives), to name actors and targets. */
function useKeys() {
  const list = useQuery(ApiKeyService.method.listApiKeys, { pageSize: 500 });
  const keys = new Map<string, ApiKey>((list.data?.apiKeys ?? []).map((key) => [key.id, key]));
  return { keys, error: list.error };
}

/** A key's name; "deleted key <short id>" for a key that is not there any more. */
function keyName(keys: Map<string, ApiKey>, id: string): string {
  return NON_KEY_ACTORS[id] ?? keys.get(id)?.name ?? `deleted key ${shortId(id)}`;
}

/** An event's title (one GetEvent per id, cached); a deleted event's title from the entry, or its id. */
function EventName({ id, changes }: { id: string; changes: JsonObject | undefined }) {
  const event = useQuery(EventService.method.getEvent, { id }, { retry: retryUnlessRefused, staleTime: 60_000 });
  const title = event.data?.event?.title;
  if (title !== undefined) return <a href={`#/events/${id}`}>“{title}”</a>;
  if (event.isPending) return <code>{shortId(id)}</code>;
  const gone = ConnectError.from(event.error).code === Code.NotFound;
  const snapshot = changes?.title;
  const last =
    snapshot && typeof snapshot === "object" && !Array.isArray(snapshot) ? (snapshot.before ?? snapshot.after) : null;
  return (
    <>
      {typeof last === "string" ? `“${last}”` : <code>{id}</code>}
      {gone && <span className="muted"> (deleted)</span>}
    </>
  );
}

/** What an entry is about, by name (the action's words say of what type): an event's title, a key's name, … */
function TargetName({ entry, keys }: { entry: AuditEntry; keys: Map<string, ApiKey> }) {
  switch (entry.targetType) {
    case "event":
      return <EventName id={entry.targetId} changes={entry.changes} />;
    case "api_key":
      return <>“{keyName(keys, entry.targetId)}”</>;
    case "audience":
      return <>“{entry.targetId}”</>;
    default:
      return <code>{entry.targetId}</code>;
  }
}

function EntryItem({ entry, keys }: { entry: AuditEntry; keys: Map<string, ApiKey> }) {
  const method = bareMethod(entry.method);
  return (
    <li
      className="audit-entry card"
      data-entry-id={entry.id}
      data-method={method}
      data-target-type={entry.targetType}
      data-target-id={entry.targetId}
      data-actor-id={entry.actorKeyId}
    >
      <p className="audit-summary">
        <strong className="audit-action">{actionWords(entry.method)}</strong>{" "}
        <span className="audit-target">
          <TargetName entry={entry} keys={keys} />
        </span>
      </p>
      <p className="audit-meta muted">
        by <span className="audit-actor">{keyName(keys, entry.actorKeyId)}</span> · <Time value={entry.time} /> ·{" "}
        <code title="The method, as the action filter names it">{method}</code>
      </p>
      <AuditChanges targetType={entry.targetType} method={method} changes={entry.changes} />
    </li>
  );
}

const isoFromInput = (value: string) => (value === "" ? "" : new Date(value).toISOString());
const inputFromIso = (iso: string) => (iso === "" ? "" : localInputValue(new Date(iso)));

/** The filters' form: selects apply at once, the target id and the time range when applied. */
function AuditFilterForm({
  filters,
  onChange,
  keys,
  serverErrors,
}: {
  filters: AuditFilters;
  onChange: (next: AuditFilters) => void;
  keys: Map<string, ApiKey>;
  serverErrors: Map<string, string>;
}) {
  const [target, setTarget] = useState(filters.target);
  const [from, setFrom] = useState(inputFromIso(filters.from));
  const [to, setTo] = useState(inputFromIso(filters.to));
  const [errors, setErrors] = useState(new Map<string, string>());
  useEffect(() => {
    setTarget(filters.target);
    setFrom(inputFromIso(filters.from));
    setTo(inputFromIso(filters.to));
  }, [filters.target, filters.from, filters.to]);
  const zone = viewerTimeZone();
  const apply = (e: FormEvent) => {
    e.preventDefault();
    const problems = new Map<string, string>();
    if (from && to && new Date(to) <= new Date(from)) problems.set("to", "Must be after the start of the range.");
    setErrors(problems);
    if (problems.size === 0)
      onChange({ ...filters, target: target.trim(), from: isoFromInput(from), to: isoFromInput(to) });
  };
  const errorOf = (name: string) => errors.get(name) ?? serverErrors.get(name);
  const actorIds = [...keys.keys(), ...Object.keys(NON_KEY_ACTORS)];
  if (filters.actor && !actorIds.includes(filters.actor)) actorIds.push(filters.actor);
  return (
    <form className="audit-filters card" aria-label="Filter the audit log" onSubmit={apply} noValidate>
      <Field id="audit-actor" label="Actor">
        <select
          id="audit-actor"
          value={filters.actor}
          onChange={(e) => onChange({ ...filters, actor: e.target.value })}
        >
          <option value="">Any key</option>
          {actorIds.map((id) => (
            <option key={id} value={id}>
              {keyName(keys, id)}
              {keys.has(id) ? ` (${ROLE_LABELS[keys.get(id)?.role ?? 0] ?? "key"})` : ""}
            </option>
          ))}
        </select>
      </Field>
      <Field id="audit-action" label="Action">
        <select
          id="audit-action"
          value={filters.action}
          onChange={(e) => onChange({ ...filters, action: e.target.value })}
        >
          <option value="">Any action</option>
          {ACTIONS.map(({ group, actions }) => (
            <optgroup key={group} label={group}>
              {actions.map(([method, words]) => (
                <option key={method} value={method}>
                  {words}
                </option>
              ))}
            </optgroup>
          ))}
        </select>
      </Field>
      <Field id="audit-type" label="Target type">
        <select id="audit-type" value={filters.type} onChange={(e) => onChange({ ...filters, type: e.target.value })}>
          <option value="">Any target</option>
          {TARGET_TYPES.map(([type, words]) => (
            <option key={type} value={type}>
              {words}
            </option>
          ))}
        </select>
      </Field>
      <Field
        id="audit-target"
        label="Target id"
        hint="An event id, key id, audience name or player id."
        error={errorOf("target")}
      >
        <input id="audit-target" value={target} onChange={(e) => setTarget(e.target.value)} />
      </Field>
      <Field id="audit-from" label={`From (${zone} time)`} error={errorOf("from")}>
        <input id="audit-from" type="datetime-local" value={from} onChange={(e) => setFrom(e.target.value)} />
      </Field>
      <Field id="audit-to" label={`Until (${zone} time)`} error={errorOf("to")}>
        <input id="audit-to" type="datetime-local" value={to} onChange={(e) => setTo(e.target.value)} />
      </Field>
      <div className="actions audit-filter-actions">
        <button type="submit" className="primary">
          Apply
        </button>
        <button
          type="button"
          onClick={() => {
            setErrors(new Map());
            onChange({ actor: "", action: "", type: "", target: "", from: "", to: "" });
          }}
        >
          <FilterX className="icon" aria-hidden /> Clear filters
        </button>
      </div>
    </form>
  );
}

/** The audit log's server refusals, on the filters that caused them. */
function filterErrorsOf(err: unknown): Map<string, string> {
  const inputs: Record<string, string> = { target_id: "target", start_time: "from", end_time: "to" };
  const errors = new Map<string, string>();
  for (const [field, description] of fieldErrorsOf(err, "")) errors.set(inputs[field] ?? "other", inWords(description));
  return errors;
}

/**
 * The audit log (admins), newest first: who did what to which target, by name, with each change's old and new
 * values; filters by actor, action, target and time, kept in the URL's hash; page by page.
 */
export function AuditView() {
  const [filters, setFilters] = useHashFilters();
  const [pages, setPages] = useState<string[]>([""]);
  const { keys, error: keysError } = useKeys();
  const log = useQuery(
    AuditService.method.listAuditEntries,
    {
      pageSize: PAGE_SIZE,
      pageToken: pages.at(-1) ?? "",
      actorKeyId: filters.actor,
      method: filters.action,
      targetType: filters.type,
      targetId: filters.target,
      startTime: filters.from ? timestampFromDate(new Date(filters.from)) : undefined,
      endTime: filters.to ? timestampFromDate(new Date(filters.to)) : undefined,
    },
    { placeholderData: keepPreviousData, retry: retryUnlessRefused },
  );
  const filtered = FILTER_NAMES.some((name) => filters[name] !== "");
  const serverErrors = log.error ? filterErrorsOf(log.error) : new Map<string, string>();
  const onInputs = ["target", "from", "to"].some((name) => serverErrors.has(name));
  return (
    <section aria-labelledby="audit-heading" className="audit-view">
      <div className="page-header">
        <h2 id="audit-heading">Audit log</h2>
        <p className="muted audit-intro">
          Every change, newest first. Times are in your time zone, {viewerTimeZone()}.
        </p>
      </div>
      <AuditFilterForm
        filters={filters}
        keys={keys}
        serverErrors={serverErrors}
        onChange={(next) => {
          setPages([""]);
          setFilters(next);
        }}
      />
      <ErrorNotice error={keysError} />
      {log.isPending && <Loading what="the audit log" />}
      {log.error && !onInputs && <ErrorNotice error={log.error} />}
      {log.data && (
        <>
          <p className="muted" role="status">
            {log.data.entries.length === 0
              ? filtered
                ? "No entries match these filters."
                : "No entries yet."
              : `${log.data.entries.length === 1 ? "1 entry" : `${log.data.entries.length} entries`} on this page${filtered ? ", filtered" : ""}.`}
          </p>
          <ol className="audit-entries" aria-label="Audit entries">
            {log.data.entries.map((entry) => (
              <EntryItem key={entry.id} entry={entry} keys={keys} />
            ))}
          </ol>
          <Pager pages={pages} setPages={setPages} nextPageToken={log.data.nextPageToken} labels={["Newer", "Older"]} />
        </>
      )}
    </section>
  );
}
