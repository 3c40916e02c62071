// Who a workflow is shared with outside its organisation, and at which level.
import { useState, type FormEvent } from "react";
import { del, get, put } from "../../api/client";
import type { Share } from "../../api/types";
import { Field } from "../common/Field";
import { ErrorBox } from "../../ui/ErrorBox";
import { GuardedButton } from "../../ui/GuardedButton";
import { ListTable } from "../../ui/ListTable";
import { useAction } from "../../ui/useAction";
import { useLoad } from "../../ui/useLoad";
import { formatWhen } from "../common/format";

type Kind = "user" | "org";
type Access = Share["access"];

const ACCESS: Record<Access, string> = {
  view: "View: read it and its runs",
  run: "Run: and start, retry, re-run and cancel runs",
  edit: "Edit: and save new versions",
};

interface SharesProps {
  workflowId: string;
  /** Why the caller may not share, or null. */
  blocked: string | null;
}

export function SharesPanel({ workflowId, blocked }: SharesProps) {
  const base = `/api/v1/workflows/${encodeURIComponent(workflowId)}/shares`;
  const shares = useLoad(() => get<Share[]>(base), [base]);
  const [kind, setKind] = useState<Kind>("user");
  const [grantee, setGrantee] = useState("");
  const [access, setAccess] = useState<Access>("view");
  const { busy, error, run } = useAction();

  const grant = (body: { granteeKind: string; grantee: string; access: Access }) =>
    run(async () => {
      await put<Share>(base, body);
      shares.reload();
    });

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (await grant({ granteeKind: kind, grantee: grantee.trim(), access })) setGrantee("");
  };

  const stop = (share: Share) =>
    run(async () => {
      await del(`${base}/${share.granteeKind}/${encodeURIComponent(share.granteeId)}`);
      shares.reload();
    });

  const list = shares.data ?? [];
  return (
    <section className="settings-section" aria-labelledby="shares-title">
      <h2 id="shares-title">Sharing</h2>
      <p className="muted">
        Give a user or an organisation outside yours access to this workflow. A share to an
        organisation gives each member at most what their role there allows.
      </p>
      <form className="panel share-form" onSubmit={submit}>
        <Field label="Share with">
          {(control) => (
            <select {...control} value={kind} onChange={(e) => setKind(e.target.value as Kind)}>
              <option value="user">A user</option>
              <option value="org">An organisation</option>
            </select>
          )}
        </Field>
        <label className="field grow">
          <span>{kind === "user" ? "User's e-mail or id" : "Organisation id"}</span>
          <input
            value={grantee}
            onChange={(e) => setGrantee(e.target.value)}
            required
            maxLength={320}
            placeholder={kind === "user" ? "ada@example.org" : "org id"}
          />
        </label>
        <Field label="Access level">
          {(control) => (
            <select {...control} value={access} onChange={(e) => setAccess(e.target.value as Access)}>
              {Object.entries(ACCESS).map(([value, text]) => (
                <option key={value} value={value}>
                  {text}
                </option>
              ))}
            </select>
          )}
        </Field>
        <GuardedButton type="submit" blocked={blocked} disabled={busy}>
          Share
        </GuardedButton>
      </form>
      <ErrorBox error={error} />
      <ErrorBox error={shares.error} />
      <ListTable
        label="Shares"
        columns={["Shared with", "Access", "Granted by", "Since"]}
        actions
        items={list}
        loading={shares.loading && !shares.data}
        empty={!shares.error && <p className="muted">Not shared with anyone.</p>}
      >
        {(share) => (
          <tr key={`${share.granteeKind}/${share.granteeId}`}>
            <td>
              <span className="badge">{share.granteeKind === "org" ? "organisation" : "user"}</span>{" "}
              <span className="mono">{share.granteeId}</span>
            </td>
            <td>
              <select
                aria-label={`Access of ${share.granteeId}`}
                value={share.access}
                disabled={busy || Boolean(blocked)}
                onChange={(e) =>
                  void grant({
                    granteeKind: share.granteeKind,
                    grantee: share.granteeId,
                    access: e.target.value as Access,
                  })
                }
              >
                {Object.keys(ACCESS).map((value) => (
                  <option key={value} value={value}>
                    {value}
                  </option>
                ))}
              </select>
            </td>
            <td className="mono small">{share.grantedBy}</td>
            <td>{formatWhen(share.createdAt)}</td>
            <td className="row-actions">
              <GuardedButton
                className="ghost"
                aria-label={`Stop sharing with ${share.granteeId}`}
                blocked={blocked}
                disabled={busy}
                onClick={() => void stop(share)}
              >
                Stop sharing
              </GuardedButton>
            </td>
          </tr>
        )}
      </ListTable>
    </section>
  );
}
