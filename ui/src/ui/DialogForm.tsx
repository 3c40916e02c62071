// The form of a dialog: its fields, then the server's refusal, then Cancel and the button that
// sends it. Busy from sending until the answer; a success leaves it busy, since the dialog then
// closes or moves on (to a secret shown once, to the editor, to the run).
import { useState, type ReactNode } from "react";
import { ErrorBox } from "./ErrorBox";

/** Sends the form: a promise, whose rejection is shown; or null when the form's own checks stopped it. */
export type Send = () => Promise<unknown> | null;

interface DialogFormProps {
  children: ReactNode;
  onSubmit: Send;
  onCancel: () => void;
  submitLabel: ReactNode;
  /** The form cannot be sent as it is (besides while it is being sent). */
  disabled?: boolean;
  /** The send button in red, for what cannot be undone. */
  danger?: boolean;
  cancelLabel?: string;
  /** Another way to send it: a button before the send button. */
  alternative?: { label: string; onSubmit: Send };
  autoComplete?: string;
}

export function DialogForm({
  children,
  onSubmit,
  onCancel,
  submitLabel,
  disabled,
  danger,
  cancelLabel = "Cancel",
  alternative,
  autoComplete,
}: DialogFormProps) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const send = async (how: Send) => {
    setError(null);
    const sending = how();
    if (!sending) return;
    setBusy(true);
    try {
      await sending;
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <form
      autoComplete={autoComplete}
      onSubmit={(event) => {
        event.preventDefault();
        void send(onSubmit);
      }}
    >
      {children}
      <ErrorBox error={error} />
      <div className="modal-actions">
        <button type="button" className="ghost" onClick={onCancel}>
          {cancelLabel}
        </button>
        {alternative && (
          <button type="button" className="ghost" disabled={busy} onClick={() => void send(alternative.onSubmit)}>
            {alternative.label}
          </button>
        )}
        <button type="submit" className={danger ? "danger" : undefined} disabled={busy || disabled}>
          {submitLabel}
        </button>
      </div>
    </form>
  );
}
