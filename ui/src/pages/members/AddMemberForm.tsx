// "Add member": by address with a role. A new account gets a one-time invite token, which
// the adder passes on (the server does not send mail).
import { useState, type FormEvent } from "react";
import { post } from "../../api/client";
import type { Role } from "../../api/types";
import { Field } from "../common/Field";
import { ErrorBox } from "../../ui/ErrorBox";
import { GuardedButton } from "../../ui/GuardedButton";
import { useAction } from "../../ui/useAction";
import { formatWhen } from "../common/format";
import { SecretOnce } from "../common/SecretOnce";
import { RoleOptions } from "./RoleOptions";

interface Added {
  email: string;
  role: Role;
  inviteToken: string | null;
  inviteExpiresAt: string | null;
}

interface AddProps {
  base: string;
  blocked: string | null;
  ownerBlocked: string | null;
  onAdded: () => void;
}

export function AddMemberForm({ base, blocked, ownerBlocked, onAdded }: AddProps) {
  const [email, setEmail] = useState("");
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("editor");
  const { busy, error, run } = useAction();
  const [added, setAdded] = useState<Added | null>(null);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setAdded(null);
    void run(async () => {
      const answer = await post<Added>(`${base}/members`, { email: email.trim(), name: name.trim(), role });
      setAdded(answer);
      setEmail("");
      setName("");
      onAdded();
    });
  };

  const link = added?.inviteToken
    ? `${window.location.origin}/signin?invite=${encodeURIComponent(added.inviteToken)}`
    : null;

  return (
    <section className="settings-section" aria-labelledby="add-member-title">
      <h2 id="add-member-title">Add member</h2>
      <form className="panel inline-form" onSubmit={submit}>
        <label className="field grow">
          <span>Member e-mail</span>
          <input type="email" value={email} onChange={(e) => setEmail(e.target.value)} required maxLength={320} />
        </label>
        <label className="field grow">
          <span>Member name</span>
          <input value={name} onChange={(e) => setName(e.target.value)} maxLength={200} placeholder="optional" />
        </label>
        <Field label="Member role">
          {(control) => (
            <select {...control} value={role} onChange={(e) => setRole(e.target.value as Role)}>
              <RoleOptions ownerBlocked={ownerBlocked} />
            </select>
          )}
        </Field>
        <GuardedButton type="submit" blocked={blocked} disabled={busy}>
          Add member
        </GuardedButton>
      </form>
      <ErrorBox error={error} />
      {added && (
        <div className="panel added" role="status">
          <p>
            <strong>{added.email}</strong> is now {/^[aeiou]/.test(added.role) ? "an" : "a"} {added.role}.
          </p>
          {added.inviteToken && link ? (
            <>
              <p>
                They have no account yet: send them this invite link (or the token), with which
                they choose a password. It works once, until {formatWhen(added.inviteExpiresAt)}.
              </p>
              <SecretOnce
                label="Invite link"
                value={link}
                copyLabel="Copy link"
                warning="Copy it now: the invite is shown this once."
              />
              <SecretOnce label="Invite token" value={added.inviteToken} copyLabel="Copy token" warning="" />
            </>
          ) : (
            <p className="muted">They already have an account: they see this organisation when they next sign in.</p>
          )}
        </div>
      )}
    </section>
  );
}
