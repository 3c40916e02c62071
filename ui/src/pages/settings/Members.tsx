// /settings/members: the current organisation — its name, its members and their roles,
// adding someone (with a one-time invite for a new account), and new organisations.
import { useState } from "react";
import { del, get, patch } from "../../api/client";
import type { Me, Member, Role } from "../../api/types";
import { useSession } from "../../store/session";
import { ErrorBox } from "../../ui/ErrorBox";
import { GuardedButton } from "../../ui/GuardedButton";
import { ListTable, LoadingStatus } from "../../ui/ListTable";
import { useLoad } from "../../ui/useLoad";
import { ConfirmDialog } from "../common/ConfirmDialog";
import { formatWhen } from "../common/format";
import { whyNot } from "../common/permissions";
import { AddMemberForm } from "../members/AddMemberForm";
import { OrgForms } from "../members/OrgForms";
import { RoleOptions } from "../members/RoleOptions";
import "../pages.css";

export function Members() {
  const me = useSession((s) => s.me);
  if (!me) {
    return (
      <div className="page-padded">
        <h1 className="page-title">Members</h1>
        <LoadingStatus />
      </div>
    );
  }
  return <MembersOf me={me} />;
}

function MembersOf({ me }: { me: Me }) {
  const setMe = useSession((s) => s.setMe);
  const orgId = me.orgId;
  const base = `/api/v1/orgs/${encodeURIComponent(orgId)}`;
  const members = useLoad(() => get<Member[]>(`${base}/members`), [base]);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [removing, setRemoving] = useState<Member | null>(null);
  const org = me.orgs.find((o) => o.id === orgId);

  const cannotWrite = whyNot(me, "members:write");
  const cannotOwner = whyNot(me, "members:owner")
    ? "Only an owner may make an owner or change an owner's membership"
    : null;
  /** Why this member's role or membership cannot be changed by the caller, or null. */
  const lockedFor = (member: Member) => cannotWrite ?? (member.role === "owner" ? cannotOwner : null);

  const refreshMe = () => get<Me>("/api/v1/auth/me").then(setMe, () => undefined);

  const changeRole = async (member: Member, role: Role) => {
    setError(null);
    setBusy(member.userId);
    try {
      await patch<Member>(`${base}/members/${encodeURIComponent(member.userId)}`, { role });
      if (member.userId === me.user?.id) void refreshMe();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
      members.reload();
    }
  };

  const list = members.data ?? [];
  return (
    <div className="page-padded members-page">
      <div className="toolbar">
        <h1 className="page-title">Members of {org?.name ?? orgId}</h1>
        <span className="muted">
          you are {me.role}
          {org?.plan ? ` · ${org.plan} plan` : ""}
        </span>
      </div>

      <ErrorBox error={error} />
      <ErrorBox error={members.error} />
      <ListTable
        label="Members"
        columns={["Name", "E-mail", "Role", "Member since"]}
        actions
        items={list}
        loading={members.loading && !members.data}
      >
        {(member) => {
          const locked = lockedFor(member);
          return (
            <tr key={member.userId}>
              <td>
                {member.name || <span className="muted">—</span>}
                {member.userId === me.user?.id && <span className="muted small"> (you)</span>}
              </td>
              <td>{member.email}</td>
              <td>
                <select
                  aria-label={`Role of ${member.email}`}
                  value={member.role}
                  disabled={Boolean(locked) || busy === member.userId}
                  title={locked ?? undefined}
                  onChange={(e) => void changeRole(member, e.target.value as Role)}
                >
                  <RoleOptions ownerBlocked={cannotOwner} />
                </select>
              </td>
              <td className="nowrap">{formatWhen(member.since)}</td>
              <td className="row-actions">
                <GuardedButton
                  className="ghost danger-text"
                  aria-label={`Remove ${member.email}`}
                  blocked={locked}
                  onClick={() => setRemoving(member)}
                >
                  Remove
                </GuardedButton>
              </td>
            </tr>
          );
        }}
      </ListTable>

      <AddMemberForm
        base={base}
        blocked={cannotWrite}
        ownerBlocked={cannotOwner}
        onAdded={members.reload}
      />
      <OrgForms me={me} org={org ?? null} onChanged={refreshMe} />

      {removing && (
        <ConfirmDialog
          title="Remove member"
          confirmLabel="Remove member"
          onClose={() => setRemoving(null)}
          onConfirm={() => del(`${base}/members/${encodeURIComponent(removing.userId)}`)}
          onDone={() => {
            members.reload();
            if (removing.userId === me.user?.id) void refreshMe();
          }}
        >
          <p>
            Remove <strong>{removing.email}</strong> from {org?.name ?? "this organisation"}? Their
            sessions and API keys stop acting in it.
          </p>
        </ConfirmDialog>
      )}
    </div>
  );
}
