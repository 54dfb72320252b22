import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import { type ReactNode, useEffect, useId, useRef, useState } from "react";
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

/**
 * A modal dialog (the browser's own <dialog>: focus kept inside, Escape closes) that states what an action will do
 * and asks before doing it. Errors of the action are shown in the dialog, which stays open.
 */
export function Dialog({
  title,
  children,
  confirmLabel,
  onConfirm,
  onClose,
  danger,
}: {
  title: string;
  children: ReactNode;
  confirmLabel: string;
  onConfirm: () => Promise<unknown>;
  onClose: () => void;
  danger?: boolean | undefined;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const titleId = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal?.();
  }, []);
  return (
    <dialog ref={ref} className="modal" aria-labelledby={titleId} onClose={onClose} onCancel={onClose}>
      <h2 id={titleId}>{title}</h2>
      <div>{children}</div>
      <ErrorNotice error={error} />
      <div className="actions">
        <button type="button" onClick={onClose} disabled={busy}>
          Cancel
        </button>
        <button
          type="button"
          className={danger ? "danger-solid" : "primary"}
          disabled={busy}
          onClick={async () => {
            setBusy(true);
            setError(undefined);
            try {
              await onConfirm();
              onClose();
            } catch (err) {
              setError(err);
            } finally {
              setBusy(false);
            }
          }}
        >
          {busy ? "Working…" : confirmLabel}
        </button>
      </div>
    </dialog>
  );
}

/** A button that opens a {@link Dialog} stating the action's consequences before it acts. */
export function ConfirmButton({
  label,
  question,
  consequences,
  confirmLabel,
  onConfirm,
  danger,
  icon,
}: {
  label: string;
  /** The dialog's title, e.g. "Delete “Summer Cup”?". */
  question: string;
  /** What will happen, in words (shown in the dialog). */
  consequences?: ReactNode;
  /** The confirming button's text; by default "Yes, <label>". */
  confirmLabel?: string;
  onConfirm: () => Promise<unknown>;
  danger?: boolean;
  icon?: ReactNode;
}) {
  const [asking, setAsking] = useState(false);
  return (
    <>
      <button type="button" className={danger ? "danger" : ""} onClick={() => setAsking(true)}>
        {icon}
        {label}
      </button>
      {asking && (
        <Dialog
          title={question}
          confirmLabel={confirmLabel ?? `Yes, ${label.toLowerCase()}`}
          onConfirm={onConfirm}
          onClose={() => setAsking(false)}
          danger={danger}
        >
          {consequences}
        </Dialog>
      )}
    </>
  );
}

/** A number for people: grouped digits in the viewer's locale (bigint-safe). */
export function formatNumber(value: bigint | number): string {
  return new Intl.NumberFormat().format(value);
}

/** A labelled figure, in a `<dl className="stats">`. */
export function Stat({ label, value }: { label: string; value: ReactNode }) {
  return (
    <div className="stat">
      <dt>{label}</dt>
      <dd>{typeof value === "bigint" || typeof value === "number" ? formatNumber(value) : value}</dd>
    </div>
  );
}

/** A view's title with its actions on the right. */
export function PageHeader({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="page-header">
      <h2>{title}</h2>
      {children}
    </div>
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
