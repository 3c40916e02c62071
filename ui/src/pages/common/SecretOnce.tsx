// A secret the server shows once (an API key, an invite token): read-only, copyable, with
// the warning that it cannot be shown again.
import { useId } from "react";
import { CopyButton } from "../../ui/CopyButton";

interface SecretProps {
  label: string;
  value: string;
  warning?: string;
  /** The copy button's text; it must not repeat `label`, which names the field alone. */
  copyLabel?: string;
}

export function SecretOnce({ label, value, warning, copyLabel = "Copy" }: SecretProps) {
  const id = useId();
  return (
    <div className="secret-once">
      <label htmlFor={id} className="field-label">
        {label}
      </label>
      <div className="secret-row">
        <input
          id={id}
          className="mono"
          readOnly
          value={value}
          onFocus={(e) => e.currentTarget.select()}
        />
        <CopyButton text={value} label={copyLabel} />
      </div>
      <p className="warning" role="note">
        {warning ?? "Copy it now: it is shown this once and cannot be shown again."}
      </p>
    </div>
  );
}
