import { timestampDate } from "@bufbuild/protobuf/wkt";
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { Check, Copy, KeyRound, Pencil, RefreshCw, Trash2, TriangleAlert } from "lucide-react";
import { type FormEvent, useEffect, useRef, useState } from "react";
import { type ApiKey, ApiKeyState, Role } from "../../gen/liveops/v1/api_key_pb.js";
import { ApiKeyService } from "../../gen/liveops/v1/api_key_service_pb.js";
import { ErrorNotice, Field, Loading, Pager, Time } from "./components.js";
import { EditKeyDialog, RevokeKeyDialog, RotateKeyDialog } from "./key-dialogs.js";
import {
  expireTimeOf,
  keyErrorsOf,
  LimitsFields,
  limitsDraftOf,
  limitsProblems,
  ROLE_LABELS,
  rateLimitOf,
  rateLimitText,
  refusedInputs,
} from "./key-fields.js";
import "./keys-view.css";

const STATE_BADGES: Record<number, [string, string]> = {
  [ApiKeyState.ACTIVE]: ["active", "badge-live"],
  [ApiKeyState.EXPIRED]: ["expired", "badge-between"],
  [ApiKeyState.REVOKED]: ["revoked", "badge-ended"],
};

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ["year", 365 * 86_400_000],
  ["month", 30 * 86_400_000],
  ["day", 86_400_000],
  ["hour", 3_600_000],
  ["minute", 60_000],
];

/** How far `ms` is from `now` in words, in the largest unit that fits: "in 3 days", "2 hours ago". */
export function relativeTime(ms: number, now: number): string {
  const diff = ms - now;
  const format = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  for (const [unit, size] of UNITS) {
    if (Math.abs(diff) >= size) return format.format(Math.round(diff / size), unit);
  }
  return format.format(Math.round(diff / 1000), "second");
}

/** A key's expiry in words: "never", "expires in 3 days", "expired 2 hours ago", with the time on hover. */
function Expiry({ apiKey, now }: { apiKey: ApiKey; now: number }) {
  if (!apiKey.expireTime) return <>never</>;
  const at = timestampDate(apiKey.expireTime);
  const words = relativeTime(at.getTime(), now);
  return (
    <time dateTime={at.toISOString()} title={at.toLocaleString()}>
      {at.getTime() > now ? `expires ${words}` : `expired ${words}`}
    </time>
  );
}

/** Whether a key was rotated, and until when its old secret works. */
function Rotation({ apiKey }: { apiKey: ApiKey }) {
  if (!apiKey.rotateTime) return <span className="muted">never rotated</span>;
  return (
    <>
      rotated <Time value={apiKey.rotateTime} />
      {apiKey.previousSecretExpireTime && (
        <>
          ; old secret works until <Time value={apiKey.previousSecretExpireTime} />
        </>
      )}
    </>
  );
}

/** A secret shown once, with a copy button and a warning that it cannot be shown again. */
function SecretOnce({
  title,
  secret,
  note,
  onDismiss,
}: {
  title: string;
  secret: string;
  note?: string;
  onDismiss: () => void;
}) {
  const [copied, setCopied] = useState<boolean | "failed">(false);
  const copyRef = useRef<HTMLButtonElement>(null);
  useEffect(() => copyRef.current?.focus(), []);
  return (
    <section className="secret card" aria-labelledby="secret-heading">
      <h3 id="secret-heading">
        <KeyRound className="icon" aria-hidden /> {title}
      </h3>
      <p className="secret-warning">
        <TriangleAlert className="icon" aria-hidden />
        <strong>Copy this secret now: it will not be shown again.</strong> The server keeps only a hash of it; if it is
        lost, rotate the key for a new one.
      </p>
      {note && <p>{note}</p>}
      <div className="secret-value">
        <code data-testid="new-secret">{secret}</code>
        <button
          ref={copyRef}
          type="button"
          onClick={() =>
            navigator.clipboard.writeText(secret).then(
              () => setCopied(true),
              () => setCopied("failed"),
            )
          }
        >
          {copied === true ? <Check className="icon" aria-hidden /> : <Copy className="icon" aria-hidden />}
          {copied === true ? "Copied" : "Copy secret"}
        </button>
        <button type="button" onClick={onDismiss}>
          I have copied it
        </button>
      </div>
      <p role="status" className="muted">
        {copied === true
          ? "The secret is on the clipboard."
          : copied === "failed"
            ? "Copying failed: select the secret and copy it."
            : ""}
      </p>
    </section>
  );
}

/** The form that creates a key: name, role, expiry and rate limit. */
function CreateKeyForm({ onCreated }: { onCreated: (name: string, secret: string) => void }) {
  const create = useMutation(ApiKeyService.method.createApiKey);
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const [role, setRole] = useState(Role.VIEWER);
  const [limits, setLimits] = useState(limitsDraftOf);
  const [errors, setErrors] = useState(new Map<string, string>());
  const [failure, setFailure] = useState<unknown>();

  async function submit(e: FormEvent) {
    e.preventDefault();
    setFailure(undefined);
    const problems = new Map<string, string>(limitsProblems(limits));
    if (name.trim() === "") problems.set("name", "Give the key a name: who or what will use it.");
    setErrors(problems);
    if (problems.size > 0) return;
    try {
      const made = await create.mutateAsync({
        name,
        role,
        expireTime: expireTimeOf(limits),
        rateLimit: rateLimitOf(limits),
      });
      onCreated(made.apiKey?.name ?? name, made.secret);
      setName("");
      setLimits(limitsDraftOf());
      await queryClient.invalidateQueries();
    } catch (err) {
      if (refusedInputs(err)) setErrors(keyErrorsOf(err, ""));
      else setFailure(err);
    }
  }

  return (
    <form onSubmit={submit} aria-labelledby="create-key-heading" className="card create-key" noValidate>
      <h3 id="create-key-heading">Create a key</h3>
      <div className="row">
        <Field id="key-name" label="Name" error={errors.get("name")} hint="Who or what holds it, e.g. “match server”.">
          <input
            id="key-name"
            value={name}
            maxLength={100}
            aria-invalid={errors.has("name") || undefined}
            aria-describedby={errors.has("name") ? "key-name-error" : undefined}
            onChange={(e) => setName(e.target.value)}
          />
        </Field>
        <Field id="key-role" label="Role" error={errors.get("role")}>
          <select id="key-role" value={role} onChange={(e) => setRole(Number(e.target.value))}>
            {Object.entries(ROLE_LABELS).map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </Field>
      </div>
      <LimitsFields idPrefix="create" draft={limits} onChange={setLimits} errors={errors} />
      {errors.has("other") && <p className="error">{errors.get("other")}</p>}
      <ErrorNotice error={failure} />
      <button type="submit" className="primary" disabled={create.isPending}>
        {create.isPending ? "Creating…" : "Create key"}
      </button>
    </form>
  );
}

type KeyAction = { kind: "edit" | "rotate" | "revoke"; apiKey: ApiKey };

/** The keys of a page, with their state, limits, rotation and actions. */
function KeysTable({
  keys,
  currentKeyId,
  onAction,
}: {
  keys: ApiKey[];
  currentKeyId: string;
  onAction: (action: KeyAction) => void;
}) {
  const now = Date.now();
  return (
    <div className="table-wrap">
      <table className="keys-table">
        <caption>Keys, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Role</th>
            <th scope="col">State</th>
            <th scope="col">Created</th>
            <th scope="col">Last used</th>
            <th scope="col">Expiry</th>
            <th scope="col">Rate limit</th>
            <th scope="col">Rotation</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {keys.map((key) => {
            const [state, badge] = STATE_BADGES[key.state] ?? ["unknown", "badge-muted"];
            return (
              <tr key={key.id} data-key-id={key.id}>
                <th scope="row">
                  {key.name}
                  {key.id === currentKeyId && <span className="badge badge-upcoming in-use">signed in</span>}
                  <br />
                  <code className="muted key-id">{key.id}</code>
                </th>
                <td>{ROLE_LABELS[key.role] ?? "unknown"}</td>
                <td>
                  <span className={`badge ${badge}`}>{state}</span>
                </td>
                <td>
                  <Time value={key.createTime} />
                </td>
                <td>{key.lastUsedTime ? <Time value={key.lastUsedTime} /> : <span className="muted">never</span>}</td>
                <td>
                  <Expiry apiKey={key} now={now} />
                </td>
                <td>{rateLimitText(key.rateLimit)}</td>
                <td>
                  <Rotation apiKey={key} />
                </td>
                <td>
                  {key.state !== ApiKeyState.REVOKED && (
                    <div className="actions">
                      <button
                        type="button"
                        onClick={() => onAction({ kind: "edit", apiKey: key })}
                        aria-label={`Edit ${key.name}`}
                      >
                        <Pencil className="icon" aria-hidden /> Edit
                      </button>
                      {key.state === ApiKeyState.ACTIVE && (
                        <button
                          type="button"
                          onClick={() => onAction({ kind: "rotate", apiKey: key })}
                          aria-label={`Rotate ${key.name}`}
                        >
                          <RefreshCw className="icon" aria-hidden /> Rotate
                        </button>
                      )}
                      <button
                        type="button"
                        className="danger"
                        onClick={() => onAction({ kind: "revoke", apiKey: key })}
                        aria-label={`Revoke ${key.name}`}
                      >
                        <Trash2 className="icon" aria-hidden /> Revoke
                      </button>
                    </div>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/**
 * API keys (admins): every key with its state, expiry, rate limit and rotation; create (the secret shown once),
 * edit, rotate and revoke in dialogs that say what follows. `currentKeyId` is the key this dashboard is signed in
 * with: revoking it signs out, rotating it switches the dashboard to the new secret.
 */
export function KeysView({ currentKeyId }: { currentKeyId: string }) {
  const [pages, setPages] = useState<string[]>([""]);
  const keys = useQuery(ApiKeyService.method.listApiKeys, { pageSize: 50, pageToken: pages.at(-1) ?? "" });
  const [secret, setSecret] = useState<{ title: string; secret: string; note?: string }>();
  const [action, setAction] = useState<KeyAction>();
  const close = () => setAction(undefined);
  return (
    <section aria-labelledby="keys-heading" className="keys-view">
      <div className="page-header">
        <h2 id="keys-heading">API keys</h2>
      </div>
      {secret && <SecretOnce {...secret} onDismiss={() => setSecret(undefined)} />}
      <CreateKeyForm onCreated={(name, made) => setSecret({ title: `New key “${name}”`, secret: made })} />
      {keys.isPending && <Loading what="keys" />}
      <ErrorNotice error={keys.error} />
      {keys.data && (
        <>
          <KeysTable keys={keys.data.apiKeys} currentKeyId={currentKeyId} onAction={setAction} />
          {(pages.length > 1 || keys.data.nextPageToken) && (
            <Pager pages={pages} setPages={setPages} nextPageToken={keys.data.nextPageToken} />
          )}
        </>
      )}
      {action?.kind === "edit" && <EditKeyDialog apiKey={action.apiKey} onClose={close} />}
      {action?.kind === "rotate" && (
        <RotateKeyDialog
          apiKey={action.apiKey}
          inUse={action.apiKey.id === currentKeyId}
          onClose={close}
          onRotated={(made, grace) =>
            setSecret({
              title: `New secret of “${action.apiKey.name}”`,
              secret: made,
              note:
                grace === 0
                  ? "The old secret no longer works."
                  : "The old secret keeps working until the time shown in the Rotation column.",
            })
          }
        />
      )}
      {action?.kind === "revoke" && (
        <RevokeKeyDialog apiKey={action.apiKey} inUse={action.apiKey.id === currentKeyId} onClose={close} />
      )}
    </section>
  );
}
