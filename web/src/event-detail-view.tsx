import type { JsonValue } from "@bufbuild/protobuf";
import { type Timestamp, timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { ArrowLeft, CircleStop, Pencil, Trash2 } from "lucide-react";
import { AudienceService } from "../../gen/liveops/v1/audience_service_pb.js";
import { EventAdminService } from "../../gen/liveops/v1/event_admin_service_pb.js";
import { type Event, EventStatus } from "../../gen/liveops/v1/event_pb.js";
import { EventService } from "../../gen/liveops/v1/event_service_pb.js";
import { ConfirmButton, ErrorNotice, formatNumber, Loading, Stat, StatusBadge, Time } from "./components.js";
import { retryUnlessRefused } from "./errors.js";
import { EventForm } from "./event-form.js";
import { LeaderboardView, rewardsInWords } from "./leaderboard-view.js";
import { RunHistory, usePastRuns } from "./run-history.js";
import { scheduleOf } from "./schedule.js";
import { describeSchedule } from "./schedule-words.js";
import "./event-detail-view.css";
import { useState } from "react";

/** The hash the dashboard showed before the current one: the back link returns to the list's place through it. */
let previousHash = "";
window.addEventListener("hashchange", (e) => {
  previousHash = new URL(e.oldURL).hash;
});

/** Back to the events list: the browser's back when the list was the previous page (it keeps its place there). */
function BackLink() {
  return (
    // biome-ignore lint/a11y/useValidAnchor: it navigates to the list; the handler only picks the history entry.
    <a
      href="#/events"
      className="back-link"
      onClick={(e) => {
        if (/^#\/events(\?.*)?$/.test(previousHash)) {
          e.preventDefault();
          window.history.back();
        }
      }}
    >
      <ArrowLeft className="icon" aria-hidden />
      Events
    </a>
  );
}

const VIEWER_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;

/** A recurring event's schedule in words: "Every Sunday at 18:00 (Europe/Berlin), for 2 hours, with no end". */
function recurrenceInWords(event: Event): string {
  const ms = (t: Timestamp | undefined) => (t ? timestampMs(t) : undefined);
  const recurrence = event.recurrence;
  return describeSchedule(
    scheduleOf(
      {
        startMs: ms(event.startTime),
        endMs: ms(event.endTime),
        recurrence: recurrence && {
          rule: recurrence.rule,
          timeZone: recurrence.timeZone || "UTC",
          runDurationSeconds: Number(recurrence.runDuration?.seconds ?? 0n),
        },
      },
      VIEWER_ZONE,
    ),
  );
}

/** When the event happens: its one run, or its recurrence in words with the rule's time zone. */
function Schedule({ event }: { event: Event }) {
  const recurrence = event.recurrence;
  return (
    <dl className="facts">
      {recurrence ? (
        <>
          <dt>Repeats</dt>
          <dd>{recurrenceInWords(event)}</dd>
          <dt>Rule</dt>
          <dd>
            <code>{recurrence.rule}</code> in {recurrence.timeZone || "UTC"}
          </dd>
          <dt>First run</dt>
          <dd>
            <Time value={event.startTime} />
          </dd>
          <dt>Last run ends</dt>
          <dd>{event.endTime ? <Time value={event.endTime} /> : "no end"}</dd>
        </>
      ) : (
        <>
          <dt>Starts</dt>
          <dd>
            <Time value={event.startTime} />
          </dd>
          <dt>Ends</dt>
          <dd>
            <Time value={event.endTime} />
          </dd>
        </>
      )}
      {event.nextRunStartTime && (
        <>
          <dt>Next run</dt>
          <dd>
            <Time value={event.nextRunStartTime} />
          </dd>
        </>
      )}
      <dt className="muted">Times</dt>
      <dd className="muted">in your time zone ({VIEWER_ZONE})</dd>
    </dl>
  );
}

/** A metadata value in words: strings as they are, anything else as JSON. */
function jsonText(value: JsonValue): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** The event's facts: description and schedule, rewards, counters, audiences, metadata. */
function EventFacts({ event }: { event: Event }) {
  const counters = Object.entries(event.counters).sort(([a], [b]) => a.localeCompare(b));
  const metadata = Object.entries(event.metadata ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return (
    <div className="grid event-facts">
      <section className="card" aria-labelledby="about-heading">
        <h3 id="about-heading">About</h3>
        {event.description ? (
          <p className="description">{event.description}</p>
        ) : (
          <p className="muted">No description.</p>
        )}
        <Schedule event={event} />
      </section>
      <section className="card" aria-labelledby="counters-heading">
        <h3 id="counters-heading">Counters</h3>
        {counters.length === 0 ? (
          <p className="muted">No counters yet: game servers add them (CounterService).</p>
        ) : (
          <dl className="stats">
            {counters.map(([name, value]) => (
              <Stat key={name} label={name} value={formatNumber(value)} />
            ))}
          </dl>
        )}
      </section>
      <section className="card" aria-labelledby="rewards-heading">
        <h3 id="rewards-heading">Rewards</h3>
        {event.rewards.length === 0 ? (
          <p className="muted">No rewards.</p>
        ) : (
          <ul className="reward-list">
            {event.rewards.map((reward) => (
              <li key={reward.id}>
                {rewardsInWords([reward])} <span className="muted">({reward.id})</span>
              </li>
            ))}
          </ul>
        )}
      </section>
      <section className="card" aria-labelledby="audiences-heading">
        <h3 id="audiences-heading">Audiences</h3>
        <dl className="facts">
          <dt>For</dt>
          <dd>
            {event.audiences.length === 0 ? (
              "every player"
            ) : (
              <span className="name-list">
                {event.audiences.map((name) => (
                  <span key={name} className="name-chip">
                    {name}
                  </span>
                ))}
              </span>
            )}
          </dd>
          <dt>Not for</dt>
          <dd>
            {event.excludedAudiences.length === 0 ? (
              <span className="muted">nobody excluded</span>
            ) : (
              <span className="name-list">
                {event.excludedAudiences.map((name) => (
                  <span key={name} className="name-chip excluded">
                    {name}
                  </span>
                ))}
              </span>
            )}
          </dd>
        </dl>
      </section>
      <section className="card" aria-labelledby="metadata-heading">
        <h3 id="metadata-heading">Metadata</h3>
        {metadata.length === 0 ? (
          <p className="muted">No metadata.</p>
        ) : (
          <dl className="facts metadata">
            {metadata.map(([key, value]) => (
              <div key={key}>
                <dt>{key}</dt>
                <dd>
                  <code>{jsonText(value)}</code>
                </dd>
              </div>
            ))}
          </dl>
        )}
      </section>
    </div>
  );
}

/** What ending the event does, in words. */
function EndConsequences({ event, runOnly }: { event: Event; runOnly: boolean }) {
  const run = event.currentRun;
  const tiers = event.leaderboard?.prizeTiers ?? [];
  return (
    <ul className="consequences">
      {run ? <li>Run {run.runNumber.toString()} ends now, before its scheduled end.</li> : <li>No run is live now.</li>}
      {run && event.leaderboard && (
        <li>Its leaderboard is finalized: no more scores are accepted and ranks are final.</li>
      )}
      {run && tiers.length > 0 && (
        <li>
          The prize tiers' rewards are granted to the winners ({tiers.length} tier{tiers.length === 1 ? "" : "s"}).
        </li>
      )}
      {event.recurrence &&
        (runOnly ? <li>Later runs happen as scheduled.</li> : <li>No later run happens: the event ends.</li>)}
      <li>This cannot be undone.</li>
    </ul>
  );
}

/** Edit, end and delete, each asking first; for operators and admins. */
function EventActions({ event, onEdit }: { event: Event; onEdit: () => void }) {
  const end = useMutation(EventAdminService.method.endEvent);
  const remove = useMutation(EventAdminService.method.deleteEvent);
  const queryClient = useQueryClient();
  const canEnd = event.status === EventStatus.ACTIVE || event.status === EventStatus.BETWEEN_RUNS;
  return (
    <div className="actions">
      <button type="button" onClick={onEdit}>
        <Pencil className="icon" aria-hidden />
        Edit
      </button>
      {event.recurrence && event.currentRun && (
        <ConfirmButton
          label="End this run"
          question={`End run ${event.currentRun.runNumber} of “${event.title}” now?`}
          confirmLabel="End this run"
          consequences={<EndConsequences event={event} runOnly />}
          icon={<CircleStop className="icon" aria-hidden />}
          danger
          onConfirm={async () => {
            await end.mutateAsync({ id: event.id, etag: event.etag, currentRunOnly: true });
            await queryClient.invalidateQueries();
          }}
        />
      )}
      {canEnd && (
        <ConfirmButton
          label="End now"
          question={`End “${event.title}” now?`}
          confirmLabel="End now"
          consequences={<EndConsequences event={event} runOnly={false} />}
          icon={<CircleStop className="icon" aria-hidden />}
          danger
          onConfirm={async () => {
            await end.mutateAsync({ id: event.id, etag: event.etag });
            await queryClient.invalidateQueries();
          }}
        />
      )}
      <ConfirmButton
        label="Delete"
        question={`Delete “${event.title}”?`}
        confirmLabel="Delete event"
        consequences={
          <ul className="consequences">
            <li>The event is deleted with all its runs, their leaderboards and its counters.</li>
            <li>Players no longer see it.</li>
            {event.currentRun && (
              <li>
                Run {event.currentRun.runNumber.toString()} is live: it stops without being finalized, so it grants no
                rewards.
              </li>
            )}
            <li>Rewards already granted stay with the players, who can still claim them.</li>
            <li>This cannot be undone.</li>
          </ul>
        }
        icon={<Trash2 className="icon" aria-hidden />}
        danger
        onConfirm={async () => {
          await remove.mutateAsync({ id: event.id, etag: event.etag });
          window.location.hash = "/events";
        }}
      />
    </div>
  );
}

/** The event form over the event, saving the fields it changed (with the etag it was read with). */
function EditEvent({ event, onDone }: { event: Event; onDone: () => void }) {
  const update = useMutation(EventAdminService.method.updateEvent);
  const audiences = useQuery(AudienceService.method.listAudiences, { pageSize: 500 });
  const queryClient = useQueryClient();
  return (
    <EventForm
      initial={event}
      onCancel={onDone}
      audienceChoices={{
        audiences: audiences.data?.audiences ?? [],
        loading: audiences.isPending,
        error: audiences.error,
      }}
      onSubmit={async (changed, paths) => {
        await update.mutateAsync({ event: { ...changed, id: event.id, etag: event.etag }, updateMask: { paths } });
        await queryClient.invalidateQueries();
        onDone();
      }}
    />
  );
}

/** One event: its details, runs, boards and grants, and (for operators and admins) the actions on it. */
export function EventDetailView({ eventId, canManage }: { eventId: string; canManage: boolean }) {
  const got = useQuery(
    EventService.method.getEvent,
    { id: eventId },
    {
      retry: retryUnlessRefused,
      // Counters change without an event change (nothing on the stream): read them again while a run is live.
      refetchInterval: (query) => (query.state.data?.event?.status === EventStatus.ACTIVE ? 10_000 : false),
    },
  );
  const event = got.data?.event;
  const past = usePastRuns(event);
  const [editing, setEditing] = useState(false);

  if (got.isPending) return <Loading what="the event" />;
  if (!event) {
    const missing = ConnectError.from(got.error).code === Code.NotFound;
    return (
      <section className="event-page" aria-labelledby="event-heading">
        <BackLink />
        <h2 id="event-heading">{missing ? "No event with this id" : "The event could not be read"}</h2>
        {missing ? (
          <p className="empty">
            There is no event {eventId}: it may have been deleted. <a href="#/events">See the events</a>.
          </p>
        ) : (
          <ErrorNotice error={got.error} />
        )}
      </section>
    );
  }
  if (editing && canManage) return <EditEvent event={event} onDone={() => setEditing(false)} />;
  return (
    <article className="event-page" aria-labelledby="event-heading">
      <BackLink />
      <div className="page-header event-header">
        <h2 id="event-heading">{event.title}</h2>
        <StatusBadge status={event.status} />
        {canManage && <EventActions event={event} onEdit={() => setEditing(true)} />}
      </div>
      <ErrorNotice error={got.error} />
      <EventFacts event={event} />
      {event.leaderboard && <LeaderboardView event={event} startedRuns={past.runs} />}
      <RunHistory event={event} past={past} />
    </article>
  );
}
