import { createClient } from "@connectrpc/connect";
import { useMutation, useQuery, useTransport } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { AudienceService } from "../../gen/liveops/v1/audience_service_pb.js";
import { EventAdminService } from "../../gen/liveops/v1/event_admin_service_pb.js";
import { type Event, EventStatus } from "../../gen/liveops/v1/event_pb.js";
import { EventChangeType, EventService } from "../../gen/liveops/v1/event_service_pb.js";
import { ConfirmButton, ErrorNotice, Loading, Pager, StatusBadge, Time } from "./components.js";
import { EventForm } from "./event-form.js";

const PAGE_SIZE = 20;
/** The audiences the event form offers: the first page, at the largest size ListAudiences allows. */
const AUDIENCE_CHOICES = 500;

/** Keeps the page's event queries fresh: every change that WatchEvents reports refetches them. */
function useLiveEvents(): "connecting" | "live" | "reconnecting" {
  const transport = useTransport();
  const queryClient = useQueryClient();
  const [state, setState] = useState<"connecting" | "live" | "reconnecting">("connecting");
  useEffect(() => {
    const abort = new AbortController();
    const client = createClient(EventService, transport);
    (async () => {
      while (!abort.signal.aborted) {
        try {
          for await (const change of client.watchEvents({}, { signal: abort.signal })) {
            if (change.type === EventChangeType.SYNCED) setState("live");
            else if (change.type !== EventChangeType.HEARTBEAT) await queryClient.invalidateQueries();
          }
        } catch {
          if (abort.signal.aborted) return;
        }
        setState("reconnecting");
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    })();
    return () => abort.abort();
  }, [transport, queryClient]);
  return state;
}

/** Whom an event is for: its audiences and excluded audiences, when it names any. */
function EventAudiences({ event }: { event: Event }) {
  if (event.audiences.length === 0 && event.excludedAudiences.length === 0) return null;
  return (
    <div className="event-audiences">
      {event.audiences.length > 0 && (
        <span>
          For <span className="audience-names">{event.audiences.join(", ")}</span>
        </span>
      )}
      {event.excludedAudiences.length > 0 && (
        <span>
          Not for <span className="audience-names">{event.excludedAudiences.join(", ")}</span>
        </span>
      )}
    </div>
  );
}

/** The events table: status badges, a status filter, pages, live updates; create, edit, end and delete. */
export function EventsView({ canManage }: { canManage: boolean }) {
  const onLeaderboard = (id: string) => {
    window.location.hash = `/events/${id}`;
  };
  const [status, setStatus] = useState(EventStatus.UNSPECIFIED);
  const [pages, setPages] = useState<string[]>([""]);
  const [editing, setEditing] = useState<Event | "new" | undefined>();
  const live = useLiveEvents();
  const list = useQuery(EventService.method.listEvents, { status, pageSize: PAGE_SIZE, pageToken: pages.at(-1) ?? "" });
  const create = useMutation(EventAdminService.method.createEvent);
  const update = useMutation(EventAdminService.method.updateEvent);
  const remove = useMutation(EventAdminService.method.deleteEvent);
  const end = useMutation(EventAdminService.method.endEvent);
  const audiences = useQuery(
    AudienceService.method.listAudiences,
    { pageSize: AUDIENCE_CHOICES },
    { enabled: canManage && editing !== undefined },
  );
  const queryClient = useQueryClient();
  const refresh = () => queryClient.invalidateQueries();

  if (editing) {
    return (
      <EventForm
        initial={editing === "new" ? undefined : editing}
        onCancel={() => setEditing(undefined)}
        audienceChoices={{
          audiences: audiences.data?.audiences ?? [],
          loading: audiences.isPending,
          error: audiences.error,
        }}
        onSubmit={async (event, paths) => {
          if (editing === "new") await create.mutateAsync({ event });
          else
            await update.mutateAsync({
              event: { ...event, id: editing.id, etag: editing.etag },
              updateMask: { paths },
            });
          setEditing(undefined);
          await refresh();
        }}
      />
    );
  }

  return (
    <section aria-labelledby="events-heading">
      <div className="toolbar">
        <h2 id="events-heading">Events</h2>
        <span className={`live-indicator ${live}`} role="status">
          {live === "live" ? "● Live updates" : live === "connecting" ? "Connecting…" : "Reconnecting…"}
        </span>
        <label htmlFor="status-filter">Status</label>
        <select
          id="status-filter"
          value={status}
          onChange={(e) => {
            setStatus(Number(e.target.value));
            setPages([""]);
          }}
        >
          <option value={EventStatus.UNSPECIFIED}>All</option>
          <option value={EventStatus.UPCOMING}>Upcoming</option>
          <option value={EventStatus.ACTIVE}>Live</option>
          <option value={EventStatus.BETWEEN_RUNS}>Between runs</option>
          <option value={EventStatus.ENDED}>Ended</option>
        </select>
        {canManage && (
          <button type="button" className="primary" onClick={() => setEditing("new")}>
            Create event
          </button>
        )}
      </div>
      {list.isPending && <Loading what="events" />}
      <ErrorNotice error={list.error} />
      {list.data && (
        <>
          <table>
            <thead>
              <tr>
                <th scope="col">Title</th>
                <th scope="col">Status</th>
                <th scope="col">Start</th>
                <th scope="col">End</th>
                <th scope="col">Next run</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {list.data.events.length === 0 && (
                <tr>
                  <td colSpan={6} className="muted">
                    No events.
                  </td>
                </tr>
              )}
              {list.data.events.map((event) => (
                <tr key={event.id} data-event-id={event.id}>
                  <td>
                    {event.title}
                    {event.recurrence && <span className="muted"> ↻ {event.recurrence.rule}</span>}
                    <EventAudiences event={event} />
                  </td>
                  <td>
                    <StatusBadge status={event.status} />
                  </td>
                  <td>
                    <Time value={event.startTime} />
                  </td>
                  <td>
                    <Time value={event.endTime} />
                  </td>
                  <td>
                    <Time value={event.nextRunStartTime} />
                  </td>
                  <td className="row-actions">
                    {event.leaderboard && (
                      <button type="button" onClick={() => onLeaderboard(event.id)}>
                        Leaderboard
                      </button>
                    )}
                    {canManage && (
                      <>
                        <button type="button" onClick={() => setEditing(event)}>
                          Edit
                        </button>
                        {(event.status === EventStatus.ACTIVE || event.status === EventStatus.BETWEEN_RUNS) && (
                          <ConfirmButton
                            label="End now"
                            question={`End “${event.title}” now?`}
                            onConfirm={() => end.mutateAsync({ id: event.id }).then(refresh)}
                          />
                        )}
                        <ConfirmButton
                          label="Delete"
                          danger
                          question={`Delete “${event.title}”?`}
                          onConfirm={() => remove.mutateAsync({ id: event.id }).then(refresh)}
                        />
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager pages={pages} setPages={setPages} nextPageToken={list.data.nextPageToken} />
        </>
      )}
    </section>
  );
}
