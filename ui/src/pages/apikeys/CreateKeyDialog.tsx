// "Create API key": a name, at most the caller's role, optional scopes and expiry; then the
// key, shown this once.
import { useState } from "react";
import { post } from "../../api/client";
import type { ApiKeyIssued, Role } from "../../api/types";
import { DialogForm } from "../../ui/DialogForm";
import { Modal } from "../../ui/Modal";
import { Field } from "../common/Field";
import { ROLES } from "../common/permissions";
import { IssuedKey } from "./IssuedKey";
import { parseScopes } from "./scopes";

interface CreateProps {
  myRole: Role | null;
  onClose: () => void;
  onCreated: () => void;
}

export function CreateKeyDialog({ myRole, onClose, onCreated }: CreateProps) {
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role | "">("");
  const [scopes, setScopes] = useState("");
  const [days, setDays] = useState("");
  const [issued, setIssued] = useState<ApiKeyIssued | null>(null);
  const allowed = myRole ? ROLES.slice(0, ROLES.indexOf(myRole) + 1) : ROLES;

  const submit = async () => {
    const made = await post<ApiKeyIssued>("/api/v1/api-keys", {
      name: name.trim(),
      role: role || null,
      scopes: parseScopes(scopes),
      expiresInDays: days ? Number(days) : null,
    });
    setIssued(made);
    onCreated();
  };

  if (issued) {
    return (
      <Modal title="API key created" onClose={onClose}>
        <IssuedKey
          secret={issued.key}
          onDone={onClose}
          lead={
            <p>
              <strong>{issued.name}</strong> ({issued.role ?? "your role"}
              {issued.scopes.length ? `, scopes ${issued.scopes.join(" ")}` : ""}).
            </p>
          }
        >
          <p className="hint">
            Send it as <code>Authorization: Bearer …</code>, or sign in with it.
          </p>
        </IssuedKey>
      </Modal>
    );
  }

  return (
    <Modal title="Create API key" onClose={onClose}>
      <DialogForm onSubmit={submit} onCancel={onClose} submitLabel="Create key" disabled={!name.trim()}>
        <label className="field">
          <span>Key name</span>
          <input
            value={name}
            onChange={(e) => setName(e.target.value)}
            required
            maxLength={200}
            placeholder="What it is for, e.g. ci-deploy"
            autoFocus
          />
        </label>
        <Field label="Key role" hint="At most your own role.">
          {(control) => (
            <select {...control} value={role} onChange={(e) => setRole(e.target.value as Role | "")}>
              <option value="">Same as mine{myRole ? ` (${myRole})` : ""}</option>
              {allowed.map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field
          label="Scopes"
          hint={
            <>
              Separated by spaces or commas; empty allows everything the role does. For example{" "}
              <code>workflows:read</code>, <code>executions:write</code>, <code>services:*</code>,{" "}
              <code>credentials:use</code>.
            </>
          }
        >
          {(control) => (
            <input
              {...control}
              className="mono"
              value={scopes}
              onChange={(e) => setScopes(e.target.value)}
              spellCheck={false}
              placeholder="e.g. workflows:read executions:write"
            />
          )}
        </Field>
        <Field label="Expires in (days)" hint="Empty: it never expires (revoke it when done).">
          {(control) => (
            <input
              {...control}
              type="number"
              min={1}
              max={3650}
              step={1}
              value={days}
              onChange={(e) => setDays(e.target.value)}
              placeholder="never"
            />
          )}
        </Field>
      </DialogForm>
    </Modal>
  );
}
