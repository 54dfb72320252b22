import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import { type ReactNode, useState } from "react";
import { EventStatus } from "../../gen/liveops/v1/event_pb.js";
import { describeError } from "./errors.js";

/** A time in the viewer's time zone, with UTC on hover. */
export function Time({ value }: { value: Timestamp | undefined }) {
  if (!value) return <span className="muted">—</span>;
  const date = timestampDate(value);
  return (
    <time dateTime={date.toISOString()} title={`${date.toISOString().replace("T", " ").slice(0, 19)} UTC`}>
      {date.toLocaleString()}
    </time>
  );
}

const STATUS_LABELS: Record<EventStatus, [string, string]> = {
  [EventStatus.UNSPECIFIED]: ["unknown", "badge-muted"],
  [EventStatus.UPCOMING]: ["upcoming", "badge-upcoming"],
  [EventStatus.ACTIVE]: ["live", "badge-live"],
  [EventStatus.BETWEEN_RUNS]: ["between runs", "badge-between"],
  [EventStatus.ENDED]: ["ended", "badge-ended"],
};

/** The status of an event as a badge. */
export function StatusBadge({ status }: { status: EventStatus }) {
  const [label, className] = STATUS_LABELS[status] ?? ["unknown", "badge-muted"];
  return <span className={`badge ${className}`}>{label}</span>;
}

/** The loading state of a call. */
export function Loading({ what }: { what: string }) {
  return (
    <p role="status" className="muted">
      Loading {what}…
    </p>
  );
}

/** The error state of a call. */
export function ErrorNotice({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p role="alert" className="error">
      {describeError(error)}
    </p>
  );
}

/** A button that asks for confirmation before it acts. */
export function ConfirmButton({
  label,
  question,
  onConfirm,
  danger,
}: {
  label: string;
  question: string;
  onConfirm: () => Promise<unknown>;
  danger?: boolean;
}) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  if (!asking) {
    return (
      <button type="button" className={danger ? "danger" : ""} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  }
  return (
    <fieldset className="confirm">
      <legend>{question}</legend>
      <button
        type="button"
        className="danger"
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          try {
            await onConfirm();
            setAsking(false);
          } catch (err) {
            setError(err);
          } finally {
            setBusy(false);
          }
        }}
      >
        {busy ? "Working…" : `Yes, ${label.toLowerCase()}`}
      </button>
      <button type="button" onClick={() => setAsking(false)}>
        Cancel
      </button>
      <ErrorNotice error={error} />
    </fieldset>
  );
}

/** A labelled form field with its error next to it. */
export function Field({
  id,
  label,
  error,
  children,
  hint,
}: {
  id: string;
  label: string;
  error?: string | undefined;
  children: ReactNode;
  hint?: string;
}) {
  return (
    <div className={`field${error ? " invalid" : ""}`}>
      <label htmlFor={id}>{label}</label>
      {children}
      {hint && <small className="muted">{hint}</small>}
      {error && (
        <small className="field-error" id={`${id}-error`} role="alert">
          {error}
        </small>
      )}
    </div>
  );
}

/** Keyset paging: a stack of page tokens, with buttons for the previous and the next page. */
export function Pager({
  pages,
  setPages,
  nextPageToken,
  labels = ["Previous", "Next"],
}: {
  pages: string[];
  setPages: (pages: string[]) => void;
  nextPageToken: string;
  labels?: [string, string];
}) {
  return (
    <nav className="pager" aria-label="Pages">
      <button type="button" disabled={pages.length === 1} onClick={() => setPages(pages.slice(0, -1))}>
        {labels[0]}
      </button>
      <span>Page {pages.length}</span>
      <button type="button" disabled={!nextPageToken} onClick={() => setPages([...pages, nextPageToken])}>
        {labels[1]}
      </button>
    </nav>
  );
}
