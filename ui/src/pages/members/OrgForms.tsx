// Renaming the current organisation (owners) and making a new one (any signed-in user).
import { useState, type FormEvent } from "react";
import { patch, post } from "../../api/client";
import type { Me, Org } from "../../api/types";
import { useSession } from "../../store/session";
import { ErrorBox } from "../../ui/ErrorBox";
import { GuardedButton } from "../../ui/GuardedButton";
import { useAction } from "../../ui/useAction";
import { whyNot } from "../common/permissions";

interface OrgProps {
  me: Me;
  org: Org | null;
  onChanged: () => Promise<unknown>;
}

export function OrgForms({ me, org, onChanged }: OrgProps) {
  const setOrg = useSession((s) => s.setOrg);
  const session = useSession((s) => Boolean(s.accessToken));
  const [name, setName] = useState(org?.name ?? "");
  const [newName, setNewName] = useState("");
  const renaming = useAction();
  const creating = useAction();
  const [made, setMade] = useState<Org | null>(null);
  const busy = renaming.busy || creating.busy;

  const cannotRename = whyNot(me, "org:write");
  const cannotCreate =
    whyNot(me, "orgs:create") ?? (me.user ? null : "A service API key cannot own an organisation");

  const rename = (event: FormEvent) => {
    event.preventDefault();
    void renaming.run(async () => {
      await patch<Org>(`/api/v1/orgs/${encodeURIComponent(me.orgId)}`, { name: name.trim() });
      await onChanged();
    });
  };

  const create = (event: FormEvent) => {
    event.preventDefault();
    void creating.run(async () => {
      setMade(await post<Org>("/api/v1/orgs", { name: newName.trim() }));
      setNewName("");
      await onChanged();
    });
  };

  return (
    <>
      <section className="settings-section" aria-labelledby="org-name-title">
        <h2 id="org-name-title">Organisation</h2>
        <form className="panel inline-form" onSubmit={rename}>
          <label className="field grow">
            <span>Organisation name</span>
            <input
              value={name}
              onChange={(e) => setName(e.target.value)}
              required
              maxLength={200}
              readOnly={Boolean(cannotRename)}
              title={cannotRename ?? undefined}
            />
          </label>
          <GuardedButton
            type="submit"
            blocked={cannotRename}
            disabled={busy || !name.trim() || name.trim() === org?.name}
          >
            Rename
          </GuardedButton>
        </form>
        <ErrorBox error={renaming.error} />
        <p className="muted small">
          Id <code>{me.orgId}</code> — the id to share a workflow with this organisation.
        </p>
      </section>
      <section className="settings-section" aria-labelledby="new-org-title">
        <h2 id="new-org-title">New organisation</h2>
        <form className="panel inline-form" onSubmit={create}>
          <label className="field grow">
            <span>Name of the new organisation</span>
            <input value={newName} onChange={(e) => setNewName(e.target.value)} required maxLength={200} />
          </label>
          <GuardedButton
            type="submit"
            blocked={cannotCreate}
            disabled={busy || !newName.trim()}
            title="You become its owner"
          >
            Create organisation
          </GuardedButton>
        </form>
        <ErrorBox error={creating.error} />
        {made && (
          <p role="status">
            Created <strong>{made.name}</strong> (<code>{made.id}</code>); you are its owner.{" "}
            {session ? (
              <button type="button" className="ghost" onClick={() => setOrg(made.id)}>
                Switch to {made.name}
              </button>
            ) : (
              <span className="muted">Sign in with a password to act in it: an API key stays in its own organisation.</span>
            )}
          </p>
        )}
      </section>
    </>
  );
}
