import { useMutation } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { ShieldAlert, TriangleAlert } from "lucide-react";
import { useState } from "react";
import type { ApiKey } from "../../gen/liveops/v1/api_key_pb.js";
import { ApiKeyService } from "../../gen/liveops/v1/api_key_service_pb.js";
import { Dialog, Field } from "./components.js";
import {
  expireTimeOf,
  keyErrorsOf,
  LimitsFields,
  limitsDraftOf,
  limitsProblems,
  rateLimitOf,
  refusedInputs,
} from "./key-fields.js";
import { storedKey } from "./transport.js";

/** Changes a key's name, expiry and rate limit: only what changed is sent (UpdateApiKey's update mask). */
export function EditKeyDialog({ apiKey, onClose }: { apiKey: ApiKey; onClose: () => void }) {
  const update = useMutation(ApiKeyService.method.updateApiKey);
  const queryClient = useQueryClient();
  const [name, setName] = useState(apiKey.name);
  const [limits, setLimits] = useState(() => limitsDraftOf(apiKey));
  const [errors, setErrors] = useState(new Map<string, string>());
  const initial = limitsDraftOf(apiKey);

  async function save() {
    const expiryOf = (d: typeof limits) => (d.expires ? d.expireAt : "");
    const problems = new Map<string, string>(limitsProblems(limits));
    // An expiry left as it was is not checked again: an expired key may still be renamed.
    if (expiryOf(limits) === expiryOf(initial)) problems.delete("expireAt");
    if (name.trim() === "") problems.set("name", "Give the key a name.");
    setErrors(problems);
    if (problems.size > 0) throw new Error("Correct the inputs marked above.");
    const paths: string[] = [];
    if (name !== apiKey.name) paths.push("name");
    if (expiryOf(limits) !== expiryOf(initial)) paths.push("expire_time");
    if (JSON.stringify(rateLimitOf(limits)) !== JSON.stringify(rateLimitOf(initial))) paths.push("rate_limit");
    if (paths.length === 0) return;
    try {
      await update.mutateAsync({
        apiKey: { id: apiKey.id, name, expireTime: expireTimeOf(limits), rateLimit: rateLimitOf(limits) },
        updateMask: { paths },
      });
    } catch (err) {
      if (!refusedInputs(err)) throw err;
      setErrors(keyErrorsOf(err, "api_key."));
      throw new Error("The server refused the inputs marked above.");
    }
    await queryClient.invalidateQueries();
  }

  return (
    <Dialog title={`Edit “${apiKey.name}”`} confirmLabel="Save changes" onConfirm={save} onClose={onClose}>
      <Field id="edit-name" label="Name" error={errors.get("name")}>
        <input id="edit-name" value={name} maxLength={100} onChange={(e) => setName(e.target.value)} />
      </Field>
      <LimitsFields idPrefix="edit" draft={limits} onChange={setLimits} errors={errors} />
      {errors.has("other") && <p className="error">{errors.get("other")}</p>}
    </Dialog>
  );
}

const GRACE_PERIODS: [number, string][] = [
  [0, "none: it stops at once"],
  [3_600, "1 hour"],
  [86_400, "1 day"],
  [7 * 86_400, "7 days"],
  [30 * 86_400, "30 days"],
];

/** Gives a key a new secret, the old one working for a chosen grace period; the dashboard's own key switches. */
export function RotateKeyDialog({
  apiKey,
  inUse,
  onRotated,
  onClose,
}: {
  apiKey: ApiKey;
  inUse: boolean;
  onRotated: (secret: string, graceSeconds: number) => void;
  onClose: () => void;
}) {
  const rotate = useMutation(ApiKeyService.method.rotateApiKey);
  const queryClient = useQueryClient();
  const [grace, setGrace] = useState(86_400);
  const until = new Date(Date.now() + grace * 1000);
  return (
    <Dialog
      title={`Rotate “${apiKey.name}”?`}
      confirmLabel="Rotate secret"
      onClose={onClose}
      onConfirm={async () => {
        const rotated = await rotate.mutateAsync({ id: apiKey.id, gracePeriod: { seconds: BigInt(grace) } });
        if (inUse) storedKey.set(rotated.secret);
        onRotated(rotated.secret, grace);
        await queryClient.invalidateQueries();
      }}
    >
      <p>The key gets a new secret, shown once. Its name, role, expiry and rate limit stay as they are.</p>
      <Field id="rotate-grace" label="The old secret keeps working for">
        <select id="rotate-grace" value={grace} onChange={(e) => setGrace(Number(e.target.value))}>
          {GRACE_PERIODS.map(([seconds, label]) => (
            <option key={seconds} value={seconds}>
              {label}
            </option>
          ))}
        </select>
      </Field>
      <p data-testid="rotate-consequence">
        {grace === 0
          ? "The old secret stops working at once: whatever still uses it is refused from its next request."
          : `The old secret keeps working for the grace period, until ${until.toLocaleString()}, then stops: update whatever uses it before then.`}
      </p>
      {inUse && (
        <p className="key-notice">
          <ShieldAlert className="icon" aria-hidden /> This dashboard is signed in with this key; it switches to the new
          secret by itself.
        </p>
      )}
    </Dialog>
  );
}

/** Revokes a key after saying what follows; revoking the key in use signs the dashboard out. */
export function RevokeKeyDialog({ apiKey, inUse, onClose }: { apiKey: ApiKey; inUse: boolean; onClose: () => void }) {
  const revoke = useMutation(ApiKeyService.method.revokeApiKey);
  const queryClient = useQueryClient();
  return (
    <Dialog
      title={inUse ? `Revoke “${apiKey.name}”, the key you are signed in with?` : `Revoke “${apiKey.name}”?`}
      confirmLabel={inUse ? "Revoke and sign out" : "Revoke key"}
      danger
      onClose={onClose}
      onConfirm={async () => {
        await revoke.mutateAsync({ id: apiKey.id });
        if (inUse) {
          storedKey.clear();
          window.location.reload();
          return;
        }
        await queryClient.invalidateQueries();
      }}
    >
      <p>
        The key stops working at once: every request made with it, on any protocol, is refused. Revoking cannot be
        undone; whoever uses it will need a new key.
      </p>
      {inUse && (
        <p className="key-warning" data-testid="revoke-own-key-warning">
          <TriangleAlert className="icon" aria-hidden />
          <strong>
            This is the key this dashboard is signed in with. Revoking it signs the dashboard out at once; you will need
            another admin key to sign in again.
          </strong>
        </p>
      )}
    </Dialog>
  );
}
