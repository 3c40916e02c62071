// The plain controls of the parameter form: number, choice, several choices, JSON.
import { useEffect, useRef, useState } from "react";
import type { EnumField, MultiEnumField, NumberField, Scalar } from "./schemaFields";
import { formatJson, isEmptyValue, parseJson } from "./values";

/** Empty values are left out of params, so "{}" typed and nothing stored are the same. */
const comparable = (value: unknown) => (isEmptyValue(value) ? "" : JSON.stringify(value));

interface ControlProps<T> {
  id: string;
  value: unknown;
  onChange: (value: T | undefined) => void;
  describedBy?: string;
  invalid?: boolean;
  required?: boolean;
  ariaLabel?: string;
}

/**
 * A number input that keeps what was typed: a value the browser cannot read as a number is not
 * committed, and `onBadInput` lets the field say so.
 */
export function NumberInput({
  id,
  field,
  value,
  onChange,
  onBadInput,
  describedBy,
  invalid,
  required,
  ariaLabel,
  placeholder,
}: ControlProps<number> & {
  field: Pick<NumberField, "integer" | "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum">;
  onBadInput: (bad: boolean) => void;
  placeholder?: string;
}) {
  const shown = typeof value === "number" ? String(value) : "";
  const [text, setText] = useState(shown);
  const last = useRef(shown);
  useEffect(() => {
    // Another change of the value (undo, a reset): show it, unless it is what was typed.
    if (shown !== last.current) {
      last.current = shown;
      setText(shown);
    }
  }, [shown]);
  return (
    <input
      id={id}
      type="number"
      inputMode={field.integer ? "numeric" : "decimal"}
      step={field.integer ? 1 : "any"}
      min={field.minimum ?? field.exclusiveMinimum}
      max={field.maximum ?? field.exclusiveMaximum}
      value={text}
      placeholder={placeholder}
      required={required}
      aria-label={ariaLabel}
      aria-describedby={describedBy}
      aria-invalid={invalid || undefined}
      onChange={(event) => {
        const input = event.currentTarget;
        setText(input.value);
        if (input.validity.badInput) {
          onBadInput(true);
          return;
        }
        onBadInput(false);
        const next = input.value === "" ? undefined : Number(input.value);
        last.current = next === undefined ? "" : String(next);
        onChange(next);
      }}
    />
  );
}

/** A select of the enum's values; an optional field adds a first "(default)" choice. */
export function EnumSelect({
  id,
  field,
  value,
  onChange,
  describedBy,
  invalid,
  required,
  ariaLabel,
}: ControlProps<Scalar> & { field: EnumField }) {
  const index = field.options.findIndex((option) => option === value);
  const emptyLabel = field.hasDefault
    ? `(default: ${String(field.default)})`
    : field.required
      ? "Choose…"
      : "(none)";
  return (
    <select
      id={id}
      value={index < 0 ? "" : String(index)}
      required={required}
      aria-label={ariaLabel}
      aria-describedby={describedBy}
      aria-invalid={invalid || undefined}
      onChange={(event) => {
        const i = event.currentTarget.value;
        onChange(i === "" ? undefined : field.options[Number(i)]);
      }}
    >
      {(index < 0 || !field.required) && (
        <option value="" disabled={field.required && !field.hasDefault}>
          {emptyLabel}
        </option>
      )}
      {field.options.map((option, i) => (
        <option key={i} value={String(i)}>
          {option === null ? "null" : String(option)}
        </option>
      ))}
    </select>
  );
}

/** Checkboxes for a list of enum values; the list keeps the enum's order. */
export function MultiEnumChecks({
  id,
  field,
  value,
  onChange,
  describedBy,
}: ControlProps<Scalar[]> & { field: MultiEnumField }) {
  const chosen = Array.isArray(value) ? value : [];
  return (
    <div className="check-group" aria-describedby={describedBy}>
      {field.options.map((option, i) => {
        const checked = chosen.includes(option);
        return (
          <label key={i} className="check" htmlFor={`${id}-${i}`}>
            <input
              id={`${id}-${i}`}
              type="checkbox"
              checked={checked}
              onChange={() => {
                const next = field.options.filter((o) => (o === option ? !checked : chosen.includes(o)));
                onChange(next.length > 0 ? next : undefined);
              }}
            />
            {String(option)}
          </label>
        );
      })}
    </div>
  );
}

/**
 * A JSON textarea for what the form cannot express. Invalid JSON is kept as typed, with the
 * reason; only valid JSON reaches the node.
 */
export function JsonEditor({
  id,
  value,
  onChange,
  onProblem,
  describedBy,
  invalid,
  required,
  ariaLabel,
}: ControlProps<unknown> & { onProblem: (problem: string | null) => void }) {
  const [text, setText] = useState(() => formatJson(value));
  const emitted = useRef<unknown>(value);
  useEffect(() => {
    if (comparable(value) !== comparable(emitted.current)) {
      emitted.current = value;
      setText(formatJson(value));
      onProblem(null);
    }
  }, [value, onProblem]);
  const lines = Math.min(12, Math.max(2, text.split("\n").length));
  return (
    <textarea
      id={id}
      className="json-input"
      rows={lines}
      value={text}
      spellCheck={false}
      required={required}
      aria-label={ariaLabel}
      aria-describedby={describedBy}
      aria-invalid={invalid || undefined}
      onChange={(event) => {
        const next = event.currentTarget.value;
        setText(next);
        const parsed = parseJson(next);
        if (!parsed.ok) {
          onProblem(parsed.error);
          return;
        }
        onProblem(null);
        emitted.current = parsed.value;
        onChange(parsed.value);
      }}
    />
  );
}
