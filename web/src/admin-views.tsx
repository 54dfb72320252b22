import { useMutation, useQuery } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { ApiKeyState, Role } from "../../gen/liveops/v1/api_key_pb.js";
import { ApiKeyService } from "../../gen/liveops/v1/api_key_service_pb.js";
import { AuditService } from "../../gen/liveops/v1/audit_service_pb.js";
import { ConfirmButton, ErrorNotice, Field, Loading, Pager, Time } from "./components.js";
import { fieldErrorsOf } from "./errors.js";

const ROLE_NAMES: Record<number, string> = {
  [Role.VIEWER]: "viewer",
  [Role.GAME_SERVER]: "game server",
  [Role.OPERATOR]: "operator",
  [Role.ADMIN]: "admin",
};

/** A secret shown once, with a copy button. */
function SecretOnce({ secret, onDismiss }: { secret: string; onDismiss: () => void }) {
  const [copied, setCopied] = useState(false);
  return (
    <section className="secret" aria-label="New API key">
      <p>
        <strong>Copy this key now: it is shown only once.</strong>
      </p>
      <code data-testid="new-secret">{secret}</code>{" "}
      <button
        type="button"
        onClick={async () => {
          await navigator.clipboard.writeText(secret);
          setCopied(true);
        }}
      >
        {copied ? "Copied" : "Copy"}
      </button>{" "}
      <button type="button" onClick={onDismiss}>
        Done
      </button>
    </section>
  );
}

/** API keys: list, create (secret shown once), rotate, revoke. Admin only. */
export function KeysView(_: { currentKeyId: string }) {
  const keys = useQuery(ApiKeyService.method.listApiKeys, { pageSize: 100 });
  const create = useMutation(ApiKeyService.method.createApiKey);
  const rotate = useMutation(ApiKeyService.method.rotateApiKey);
  const revoke = useMutation(ApiKeyService.method.revokeApiKey);
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const [role, setRole] = useState(Role.VIEWER);
  const [secret, setSecret] = useState<string>();
  const [errors, setErrors] = useState(new Map<string, string>());
  const [failure, setFailure] = useState<unknown>();

  async function submit(e: FormEvent) {
    e.preventDefault();
    setErrors(new Map());
    setFailure(undefined);
    try {
      const made = await create.mutateAsync({ name, role });
      setSecret(made.secret);
      setName("");
      await queryClient.invalidateQueries();
    } catch (err) {
      setErrors(fieldErrorsOf(err, ""));
      setFailure(err);
    }
  }

  return (
    <section aria-labelledby="keys-heading">
      <h2 id="keys-heading">API keys</h2>
      {secret && <SecretOnce secret={secret} onDismiss={() => setSecret(undefined)} />}
      <form onSubmit={submit} aria-label="Create API key" className="row" noValidate>
        <Field id="key-name" label="Name" error={errors.get("name")}>
          <input id="key-name" value={name} onChange={(e) => setName(e.target.value)} />
        </Field>
        <Field id="key-role" label="Role" error={errors.get("role")}>
          <select id="key-role" value={role} onChange={(e) => setRole(Number(e.target.value))}>
            {[Role.VIEWER, Role.GAME_SERVER, Role.OPERATOR, Role.ADMIN].map((r) => (
              <option key={r} value={r}>
                {ROLE_NAMES[r]}
              </option>
            ))}
          </select>
        </Field>
        <button type="submit" className="primary" disabled={create.isPending}>
          {create.isPending ? "Creating…" : "Create key"}
        </button>
      </form>
      {errors.size === 0 && <ErrorNotice error={failure} />}
      {keys.isPending && <Loading what="keys" />}
      <ErrorNotice error={keys.error} />
      {keys.data && (
        <table>
          <thead>
            <tr>
              <th scope="col">Id</th>
              <th scope="col">Name</th>
              <th scope="col">Role</th>
              <th scope="col">State</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {keys.data.apiKeys.map((key) => (
              <tr key={key.id}>
                <td>
                  <code>{key.id}</code>
                </td>
                <td>{key.name}</td>
                <td>{ROLE_NAMES[key.role]}</td>
                <td>{ApiKeyState[key.state].toLowerCase()}</td>
                <td>
                  <Time value={key.createTime} />
                </td>
                <td>
                  <Time value={key.lastUsedTime} />
                </td>
                <td className="row-actions">
                  {key.state === ApiKeyState.ACTIVE && (
                    <>
                      <ConfirmButton
                        label="Rotate"
                        question={`New secret for “${key.name}” (the old one works one more hour)?`}
                        onConfirm={async () => {
                          const rotated = await rotate.mutateAsync({ id: key.id, gracePeriod: { seconds: 3600n } });
                          setSecret(rotated.secret);
                          await queryClient.invalidateQueries();
                        }}
                      />
                      <ConfirmButton
                        label="Revoke"
                        danger
                        question={`Revoke “${key.name}”? It stops working at once.`}
                        onConfirm={() => revoke.mutateAsync({ id: key.id }).then(() => queryClient.invalidateQueries())}
                      />
                    </>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** The audit log, newest first, page by page. Admin only. */
export function AuditView() {
  const [pages, setPages] = useState<string[]>([""]);
  const log = useQuery(AuditService.method.listAuditEntries, { pageSize: 25, pageToken: pages.at(-1) ?? "" });
  return (
    <section aria-labelledby="audit-heading">
      <h2 id="audit-heading">Audit log</h2>
      {log.isPending && <Loading what="the audit log" />}
      <ErrorNotice error={log.error} />
      {log.data && (
        <>
          <table>
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Key</th>
                <th scope="col">Method</th>
                <th scope="col">Target</th>
                <th scope="col">Changes</th>
              </tr>
            </thead>
            <tbody>
              {log.data.entries.map((entry) => (
                <tr key={entry.id}>
                  <td>
                    <Time value={entry.time} />
                  </td>
                  <td>
                    <code>{entry.actorKeyId}</code>
                  </td>
                  <td>{entry.method.split("/").pop()}</td>
                  <td>
                    {entry.targetType} <code>{entry.targetId}</code>
                  </td>
                  <td>
                    <code className="changes">{entry.changes ? Object.keys(entry.changes).join(", ") : ""}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager pages={pages} setPages={setPages} nextPageToken={log.data.nextPageToken} labels={["Newer", "Older"]} />
        </>
      )}
    </section>
  );
}
