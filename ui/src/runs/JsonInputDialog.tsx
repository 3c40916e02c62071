// A dialog that asks for a JSON value and starts a run with it (a workflow's input, a node's
// input for a re-run): the text is checked as JSON before anything is sent.
import { useId, useState, type ReactNode } from "react";
import { DialogForm } from "../ui/DialogForm";
import { Modal } from "../ui/Modal";
import { parseJson } from "./jsonInput";
import "./runs.css";

/** Starts it with the value typed (and the text as typed); rejects with what went wrong. */
export type StartWith = (value: unknown, text: string) => Promise<unknown>;

interface JsonInputDialogProps {
  title: string;
  /** Said above the field. */
  intro?: ReactNode;
  /** The field's label. */
  label: string;
  rows: number;
  /** The text the field starts with. */
  initial: string;
  /** Said under the field, as its description. */
  hint?: ReactNode;
  /** Said under the field, before the buttons. */
  note?: ReactNode;
  submitLabel: string;
  onStart: StartWith;
  /** Another way to start: a second button. */
  alternative?: { label: string; onStart: StartWith };
  onClose: () => void;
}

export function JsonInputDialog({
  title,
  intro,
  label,
  rows,
  initial,
  hint,
  note,
  submitLabel,
  onStart,
  alternative,
  onClose,
}: JsonInputDialogProps) {
  const id = useId();
  const [text, setText] = useState(initial);
  const [problem, setProblem] = useState<string | null>(null);

  const withValue = (start: StartWith) => () => {
    const parsed = parseJson(text);
    if (!parsed.ok) {
      setProblem(parsed.message);
      return null;
    }
    setProblem(null);
    return start(parsed.value, text);
  };
  const described = [hint ? `${id}-hint` : null, problem ? `${id}-problem` : null].filter(Boolean).join(" ");

  return (
    <Modal title={title} onClose={onClose} wide>
      <DialogForm
        onSubmit={withValue(onStart)}
        onCancel={onClose}
        submitLabel={submitLabel}
        alternative={alternative && { label: alternative.label, onSubmit: withValue(alternative.onStart) }}
      >
        {intro && <p className="hint">{intro}</p>}
        <label className="field">
          <span>{label}</span>
          <textarea
            className="json-input"
            rows={rows}
            spellCheck={false}
            value={text}
            aria-invalid={problem ? true : undefined}
            aria-describedby={described || undefined}
            onChange={(e) => setText(e.target.value)}
          />
        </label>
        {hint && (
          <p id={`${id}-hint`} className="hint">
            {hint}
          </p>
        )}
        {problem && (
          <p id={`${id}-problem`} className="field-error" role="alert">
            {problem}
          </p>
        )}
        {note}
      </DialogForm>
    </Modal>
  );
}
