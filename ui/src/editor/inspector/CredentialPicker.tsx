// Which stored credential a node's connector uses (node.credential): the organisation's
// credentials of that connector, or none. Secrets never come to the browser, only ids.
import { Link } from "react-router";
import { get } from "../../api/client";
import type { Credential, NodeType } from "../../api/types";
import { ErrorBox } from "../../ui/ErrorBox";
import { useLoad } from "../../ui/useLoad";
import "./inspector.css";

export interface CredentialPickerProps {
  id: string;
  nodeType: Pick<NodeType, "connector" | "credentialSchema">;
  value: string | null | undefined;
  onChange: (credential: string | null) => void;
}

export function CredentialPicker({ id, nodeType, value, onChange }: CredentialPickerProps) {
  const { data, error, loading, reload } = useLoad(() => get<Credential[]>("/api/v1/credentials"), []);
  if (!nodeType.credentialSchema) return null;
  const mine = (data ?? []).filter((c) => c.connector === nodeType.connector);
  const missing = Boolean(value) && !loading && !error && !mine.some((c) => c.id === value);
  const hintId = `${id}-hint`;
  return (
    <div className="field credential-picker">
      <div className="field-head">
        <label htmlFor={id}>Credential</label>
        <Link to="/settings/credentials" className="credential-manage">
          Manage credentials
        </Link>
      </div>
      <div className="credential-row">
        <select
          id={id}
          value={value ?? ""}
          aria-describedby={hintId}
          aria-invalid={missing || undefined}
          onChange={(event) => onChange(event.currentTarget.value || null)}
        >
          <option value="">None</option>
          {mine.map((c) => (
            <option key={c.id} value={c.id}>
              {c.id}
            </option>
          ))}
          {value && !mine.some((c) => c.id === value) && <option value={value}>{value} (not found)</option>}
        </select>
        <button type="button" className="ghost small" onClick={reload} aria-label="Reload the list" title="Reload the list of credentials">
          ↻
        </button>
      </div>
      <div id={hintId} className="hint">
        {loading
          ? "Loading credentials…"
          : mine.length === 0
            ? `No ${nodeType.connector} credential yet: add one under Manage credentials.`
            : `The ${nodeType.connector} credential this node uses, given to it just in time.`}
      </div>
      {missing && (
        <div className="field-error">
          No {nodeType.connector} credential has the id “{value}”: runs of this node will fail.
        </div>
      )}
      {Boolean(error) && <ErrorBox error={error} />}
    </div>
  );
}
