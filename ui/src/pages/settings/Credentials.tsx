// /settings/credentials: the organisation's credentials (ids and connectors only: secrets go
// in and never come back out).
import { useState } from "react";
import { del, get } from "../../api/client";
import type { Credential, NodeType } from "../../api/types";
import { useSession } from "../../store/session";
import { ErrorBox } from "../../ui/ErrorBox";
import { GuardedButton } from "../../ui/GuardedButton";
import { EmptyState, ListTable } from "../../ui/ListTable";
import { useLoad } from "../../ui/useLoad";
import { ConfirmDialog } from "../common/ConfirmDialog";
import { formatWhen } from "../common/format";
import { whyNot } from "../common/permissions";
import { credentialConnectors } from "../credentials/connectors";
import { CredentialDialog } from "../credentials/CredentialDialog";
import "../pages.css";

export function Credentials() {
  const me = useSession((s) => s.me);
  const credentials = useLoad(() => get<Credential[]>("/api/v1/credentials"), []);
  const types = useLoad(() => get<NodeType[]>("/api/v1/node-types"), []);
  const [editing, setEditing] = useState<Credential | "new" | null>(null);
  const [deleting, setDeleting] = useState<Credential | null>(null);
  const connectors = credentialConnectors(types.data ?? []);
  const cannotWrite = whyNot(me, "credentials:write");
  const noConnector = types.data && connectors.length === 0 ? "No installed connector takes a credential" : null;
  const list = credentials.data ?? [];

  return (
    <div className="page-padded">
      <div className="toolbar">
        <h1 className="page-title">Credentials</h1>
        <span className="spacer" />
        <GuardedButton onClick={() => setEditing("new")} blocked={cannotWrite ?? noConnector} disabled={!types.data}>
          New credential
        </GuardedButton>
      </div>
      <p className="muted">
        Nodes refer to a credential by its id; a run decrypts it just in time and never writes it
        to its journal or logs.
      </p>
      <ErrorBox error={credentials.error} />
      <ErrorBox error={types.error} />
      <ListTable
        label="Credentials"
        columns={["Id", "Connector", "Created", "Updated"]}
        actions
        items={list}
        loading={credentials.loading && !credentials.data}
        empty={
          !credentials.error && (
            <EmptyState title="No credentials yet.">Add one with “New credential”, then name its id in a node.</EmptyState>
          )
        }
      >
        {(credential) => (
          <tr key={credential.id}>
            <td className="mono">{credential.id}</td>
            <td>{credential.connector}</td>
            <td className="nowrap">{formatWhen(credential.createdAt)}</td>
            <td className="nowrap">{formatWhen(credential.updatedAt)}</td>
            <td className="row-actions">
              <GuardedButton
                className="ghost"
                aria-label={`Edit ${credential.id}`}
                blocked={cannotWrite}
                disabled={!types.data}
                title="Replace its secret"
                onClick={() => setEditing(credential)}
              >
                Edit
              </GuardedButton>
              <GuardedButton
                className="ghost danger-text"
                aria-label={`Delete ${credential.id}`}
                blocked={cannotWrite}
                onClick={() => setDeleting(credential)}
              >
                Delete
              </GuardedButton>
            </td>
          </tr>
        )}
      </ListTable>
      {editing && (
        <CredentialDialog
          connectors={connectors}
          editing={editing === "new" ? null : editing}
          onClose={() => setEditing(null)}
          onSaved={() => credentials.reload()}
        />
      )}
      {deleting && (
        <ConfirmDialog
          title="Delete credential"
          confirmLabel="Delete credential"
          onClose={() => setDeleting(null)}
          onConfirm={() => del(`/api/v1/credentials/${encodeURIComponent(deleting.id)}`)}
          onDone={() => credentials.reload()}
        >
          <p>
            Delete <strong className="mono">{deleting.id}</strong>? Runs that name it fail from
            then on.
          </p>
        </ConfirmDialog>
      )}
    </div>
  );
}
