// /settings/api-keys: your API keys (an admin may list the organisation's): create, rotate,
// revoke. A secret is shown once, when it is made.
import { useState } from "react";
import { del, get } from "../../api/client";
import type { ApiKey } from "../../api/types";
import { useSession } from "../../store/session";
import { ErrorBox } from "../../ui/ErrorBox";
import { GuardedButton } from "../../ui/GuardedButton";
import { EmptyState, ListTable } from "../../ui/ListTable";
import { useLoad } from "../../ui/useLoad";
import { CreateKeyDialog } from "../apikeys/CreateKeyDialog";
import { RotateKeyDialog } from "../apikeys/RotateKeyDialog";
import { keyState } from "../apikeys/scopes";
import { ConfirmDialog } from "../common/ConfirmDialog";
import { formatWhen } from "../common/format";
import { can, whyNot } from "../common/permissions";
import "../pages.css";

export function ApiKeys() {
  const me = useSession((s) => s.me);
  const [everyChosen, setEvery] = useState<boolean | null>(null);
  // keys a service key makes belong to no user, so only the organisation's list shows them
  const every = everyChosen ?? Boolean(me && !me.user && can(me, "apikeys:admin"));
  const keys = useLoad(() => get<ApiKey[]>("/api/v1/api-keys", { all: every || undefined }), [every]);
  const [creating, setCreating] = useState(false);
  const [rotating, setRotating] = useState<ApiKey | null>(null);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);
  const cannotOwn = whyNot(me, "apikeys:own");
  const cannotAdmin = whyNot(me, "apikeys:admin");
  const list = keys.data ?? [];
  const mine = (key: ApiKey) => (me?.user ? key.userId === me.user.id : key.id === me?.keyId);

  return (
    <div className="page-padded">
      <div className="toolbar">
        <h1 className="page-title">API keys</h1>
        <span className="spacer" />
        <label className="check" title={cannotAdmin ?? undefined}>
          <input
            type="checkbox"
            checked={every}
            disabled={Boolean(cannotAdmin)}
            onChange={(e) => setEvery(e.target.checked)}
          />
          Every key of the organisation
        </label>
        <GuardedButton onClick={() => setCreating(true)} blocked={cannotOwn}>
          Create API key
        </GuardedButton>
      </div>
      <p className="muted">
        A key acts for you in this organisation with at most your role. Keys are stored as hashes:
        a secret is shown once, when the key is created or rotated.
      </p>
      <ErrorBox error={keys.error} />
      <ListTable
        label="API keys"
        columns={["Name", "Key", "Role", "Scopes", every && "Owner", "Created", "Last used", "Expires", "Status"]}
        actions
        items={list}
        loading={keys.loading && !keys.data}
        empty={
          !keys.error && (
            <EmptyState title="No API keys yet.">Create one for a script, a CI job or another automation tool.</EmptyState>
          )
        }
      >
        {(key) => {
          const state = keyState(key);
          const current = key.id === me?.keyId;
          // another member's key: only an admin may touch it
          const blocked = mine(key) ? null : cannotAdmin;
          const othersTitle = mine(key) ? undefined : "Another member's key";
          return (
            <tr key={key.id} className={state === "active" ? undefined : "dimmed"}>
              <td className="nowrap">
                {key.name}
                {current && <div className="muted small">signed in with it</div>}
              </td>
              <td className="mono">{key.prefix}…</td>
              <td>{key.role ?? "—"}</td>
              <td className="mono small">{key.scopes.length ? key.scopes.join(" ") : "all"}</td>
              {every && <td className="mono small">{key.userId ?? "service key"}</td>}
              <td className="nowrap">{formatWhen(key.createdAt)}</td>
              <td className="nowrap">{key.lastUsedAt ? formatWhen(key.lastUsedAt) : "never"}</td>
              <td className="nowrap">{key.expiresAt ? formatWhen(key.expiresAt) : "never"}</td>
              <td>
                <span className={`badge ${state === "active" ? "COMPLETED" : state === "revoked" ? "FAILED" : ""}`}>
                  {state}
                </span>
                {key.rotatedAt && state === "active" && (
                  <div className="muted small" title={key.rotatedAt}>
                    rotated {formatWhen(key.rotatedAt)}
                  </div>
                )}
              </td>
              <td className="row-actions">
                {state !== "revoked" && (
                  <>
                    <GuardedButton
                      className="ghost"
                      aria-label={`Rotate ${key.name}`}
                      blocked={blocked}
                      title={othersTitle}
                      onClick={() => setRotating(key)}
                    >
                      Rotate
                    </GuardedButton>
                    <GuardedButton
                      className="ghost danger-text"
                      aria-label={`Revoke ${key.name}`}
                      blocked={blocked}
                      title={othersTitle}
                      onClick={() => setRevoking(key)}
                    >
                      Revoke
                    </GuardedButton>
                  </>
                )}
              </td>
            </tr>
          );
        }}
      </ListTable>
      {creating && (
        <CreateKeyDialog myRole={me?.role ?? null} onClose={() => setCreating(false)} onCreated={keys.reload} />
      )}
      {rotating && (
        <RotateKeyDialog
          apiKey={rotating}
          signedInWithIt={rotating.id === me?.keyId}
          onClose={() => setRotating(null)}
          onRotated={keys.reload}
        />
      )}
      {revoking && (
        <ConfirmDialog
          title="Revoke API key"
          confirmLabel="Revoke key"
          onClose={() => setRevoking(null)}
          onConfirm={() => del(`/api/v1/api-keys/${encodeURIComponent(revoking.id)}`)}
          onDone={keys.reload}
        >
          <p>
            Revoke <strong>{revoking.name}</strong> ({revoking.prefix}…)? It stops working at once
            and cannot be restored.
          </p>
          {revoking.id === me?.keyId && (
            <p className="notice" role="note">
              You are signed in with this key: you will be signed out.
            </p>
          )}
        </ConfirmDialog>
      )}
    </div>
  );
}
