// The parameter form of a node, generated from its action's JSON Schema (see schemaFields.ts).
// Every field is labelled by its title, hints with its description, checks its value as the
// server would (the server checks again on save) and leaves empty optional values out.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { ReactNode } from "react";
import { ExpressionField } from "./ExpressionField";
import { EnumSelect, JsonEditor, MultiEnumChecks, NumberInput } from "./controls";
import { fromExpressionText, toExpressionText } from "./expressions";
import {
  checkField,
  checkKey,
  describeBounds,
  initialValue,
  isEmptyValue,
  isExpression,
  isPlainObject,
  withField,
} from "./values";
import type { Params } from "./values";
import { describeSchema } from "./schemaFields";
import type { Field, JsonSchema, ListField, MapField, ObjectField } from "./schemaFields";
import "./inspector.css";

export interface SchemaFormProps {
  schema: JsonSchema | null | undefined;
  value: Params;
  onChange: (next: Params) => void;
  /** Prefix of the inputs' ids: unique on the page. */
  idPrefix: string;
}

export function SchemaForm({ schema, value, onChange, idPrefix }: SchemaFormProps) {
  const fields = useMemo(() => describeSchema(schema), [schema]);
  const known = new Set(fields.map((f) => f.name));
  const unknown = Object.keys(value).filter((key) => !known.has(key));
  if (fields.length === 0 && unknown.length === 0) {
    return <p className="inspector-muted">This node has no parameters.</p>;
  }
  return (
    <div className="schema-form">
      {fields.map((field) => (
        <FieldEditor
          key={field.name}
          id={`${idPrefix}-${safeId(field.name)}`}
          field={field}
          value={value[field.name]}
          onChange={(next) => onChange(withField(value, field.name, next))}
        />
      ))}
      {unknown.length > 0 && (
        <div className="unknown-params" role="group" aria-label="Parameters this node type does not take">
          <p className="field-error">
            This node type does not take {unknown.length === 1 ? "the parameter" : "the parameters"}{" "}
            {unknown.map((key) => `"${key}"`).join(", ")}: the server will refuse to save them.
          </p>
          {unknown.map((key) => (
            <button
              key={key}
              type="button"
              className="ghost small"
              onClick={() => onChange(withField(value, key, undefined))}
            >
              Remove parameter {key}
            </button>
          ))}
        </div>
      )}
    </div>
  );
}

function safeId(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, "_");
}

/** The hint under a field: its description, then its default, bounds and an example. */
function hintOf(field: Field): ReactNode {
  const extra: string[] = [];
  if (field.kind === "number") {
    const bounds = describeBounds(field);
    if (bounds) extra.push(bounds.charAt(0).toUpperCase() + bounds.slice(1));
    if (field.integer) extra.push("whole number");
  }
  if (field.kind === "string" && field.maxLength !== undefined && field.maxLength < 10_000) {
    extra.push(`at most ${field.maxLength} characters`);
  }
  if (field.kind === "string" && field.format === "date-time") extra.push("ISO 8601, e.g. 2025-01-31T09:00:00Z");
  if (field.hasDefault && !isEmptyValue(field.default) && field.kind !== "enum") {
    extra.push(`default ${JSON.stringify(field.default)}`);
  }
  if (field.examples && field.examples.length > 0) {
    extra.push(`e.g. ${field.examples.map((e) => (typeof e === "string" ? e : JSON.stringify(e))).join(", ")}`);
  }
  if (!field.description && extra.length === 0) return null;
  return (
    <>
      {field.description}
      {field.description && extra.length > 0 ? " " : ""}
      {extra.length > 0 && <span className="hint-extra">({extra.join("; ")})</span>}
    </>
  );
}

const GROUP_KINDS = new Set<Field["kind"]>(["object", "list", "map", "multiEnum"]);

interface FieldEditorProps {
  id: string;
  field: Field;
  value: unknown;
  onChange: (value: unknown) => void;
  /** Inside a key/value row: the label is for screen readers only. */
  hideLabel?: boolean;
  /** A list's item: required by being there, no need to mark it. */
  hideRequiredMark?: boolean;
}

/** One field: its label, control, hint and error, and the Expression toggle for non-text fields. */
export function FieldEditor({ id, field, value, onChange, hideLabel = false, hideRequiredMark = false }: FieldEditorProps) {
  const [touched, setTouched] = useState(false);
  const [localProblem, setLocalProblem] = useState<string | null>(null);
  const expressionToggle = useExpressionToggle(field, value, onChange);
  const { exprMode } = expressionToggle;

  const problem = localProblem ?? checkField(field, value, touched);
  const hint = hintOf(field);
  const hintId = hint ? `${id}-hint` : undefined;
  const errorId = problem ? `${id}-error` : undefined;
  const describedBy = [hintId, errorId].filter(Boolean).join(" ") || undefined;
  const invalid = problem !== null;
  const onProblem = useCallback((p: string | null) => setLocalProblem(p), []);

  const requiredMark = field.required && !hideRequiredMark ? (
    <span className="required-mark" aria-hidden="true" title="required">
      *
    </span>
  ) : null;
  // A field of any type is text (with expressions) or JSON: its toggle is "JSON".
  const jsonToggle = field.kind === "any";
  const toggleOn = jsonToggle ? !exprMode : exprMode;
  const toggle =
    field.kind === "string" || field.kind === "const" ? null : (
      <button
        type="button"
        className={`expr-toggle${toggleOn ? " on" : ""}`}
        aria-pressed={toggleOn}
        // Not "Expression: <title>": get_by_label(<title>) must find the field alone.
        aria-label={jsonToggle ? "JSON" : "Expression"}
        aria-describedby={`${id}-label`}
        title={
          jsonToggle
            ? exprMode
              ? "Write a JSON value (number, list, object) instead of text"
              : "Write text or an {{ }} expression instead of JSON"
            : exprMode
              ? "Edit as a value"
              : "Write an {{ }} expression instead"
        }
        onClick={() => {
          setLocalProblem(null);
          expressionToggle.toggle();
        }}
      >
        {jsonToggle ? "JSON" : "{{ }} Expression"}
      </button>
    );
  const footer = (
    <>
      {hint && !hideLabel && (
        <div id={hintId} className="hint">
          {hint}
        </div>
      )}
      {hint && hideLabel && (
        <div id={hintId} className="visually-hidden">
          {hint}
        </div>
      )}
      {problem && (
        <div id={errorId} className="field-error">
          {problem}
        </div>
      )}
    </>
  );

  const markTouched = () => setTouched(true);

  if (!exprMode && GROUP_KINDS.has(field.kind)) {
    return (
      <fieldset className="field-group" onBlur={markTouched} aria-describedby={describedBy}>
        <legend id={`${id}-label`} className={hideLabel ? "visually-hidden" : undefined}>
          {field.title}
          {requiredMark}
        </legend>
        {toggle && <div className="field-group-tools">{toggle}</div>}
        {field.kind === "object" && <ObjectEditor id={id} field={field} value={value} onChange={onChange} />}
        {field.kind === "list" && <ListEditor id={id} field={field} value={value} onChange={onChange} />}
        {field.kind === "map" && <MapEditor id={id} field={field} value={value} onChange={onChange} />}
        {field.kind === "multiEnum" && (
          <MultiEnumChecks id={id} field={field} value={value} onChange={onChange} describedBy={describedBy} />
        )}
        {footer}
      </fieldset>
    );
  }

  if (!exprMode && field.kind === "boolean") {
    const checked = typeof value === "boolean" ? value : field.default === true;
    return (
      <div className="field field-boolean">
        <div className="field-head">
          <label className="check" htmlFor={id}>
            <input
              id={id}
              type="checkbox"
              checked={checked}
              aria-describedby={describedBy}
              onChange={(event) => {
                const next = event.currentTarget.checked;
                // The default applies by itself: saving it would only add noise.
                onChange(field.hasDefault && next === field.default ? undefined : next);
              }}
            />
            <span id={`${id}-label`} className={hideLabel ? "visually-hidden" : undefined}>
              {field.title}
            </span>
          </label>
          {requiredMark}
          {toggle}
        </div>
        {footer}
      </div>
    );
  }

  const common = { id, describedBy, invalid, required: field.required };
  let control: ReactNode;
  if (exprMode || field.kind === "string") {
    // An expression in place of a value is one line: a textarea only for long text fields.
    const multiline = field.kind === "string" && field.multiline;
    control = (
      <ExpressionField
        {...common}
        value={typeof value === "string" ? value : toExpressionText(value)}
        multiline={multiline}
        rows={multiline ? 8 : undefined}
        placeholder={placeholderOf(field)}
        onChange={(text) => onChange(text === "" ? undefined : text)}
        onBlur={markTouched}
      />
    );
  } else if (field.kind === "number") {
    control = (
      <NumberInput
        {...common}
        field={field}
        value={value}
        placeholder={placeholderOf(field)}
        onChange={onChange}
        onBadInput={(bad) => setLocalProblem(bad ? `${field.title} must be a number.` : null)}
      />
    );
  } else if (field.kind === "enum") {
    control = <EnumSelect {...common} field={field} value={value} onChange={onChange} />;
  } else if (field.kind === "const") {
    control = <input id={id} aria-describedby={describedBy} readOnly value={JSON.stringify(field.value)} />;
  } else {
    // json, and "any" in JSON mode
    control = <JsonEditor {...common} describedBy={describedBy} value={value} onChange={onChange} onProblem={onProblem} />;
  }

  if (hideLabel) {
    // In a key/value row: the control and its toggle on one line, the label for screen readers.
    return (
      <div className="field field-inline" onBlur={markTouched}>
        <label id={`${id}-label`} htmlFor={id} className="visually-hidden">
          {field.title}
        </label>
        <div className="field-inline-row">
          {control}
          {toggle}
        </div>
        {footer}
      </div>
    );
  }

  return (
    <div className="field" onBlur={markTouched}>
      <div className="field-head">
        <label id={`${id}-label`} htmlFor={id} className={hideLabel ? "visually-hidden" : undefined}>
          {field.title}
        </label>
        {!hideLabel && requiredMark}
        {toggle}
      </div>
      {control}
      {footer}
    </div>
  );
}

function placeholderOf(field: Field): string | undefined {
  if (field.examples && field.examples.length > 0) return `e.g. ${String(field.examples[0])}`;
  if (field.hasDefault && field.default !== null && typeof field.default !== "object") return String(field.default);
  if (field.kind === "string" && field.format === "date-time") return "2025-01-31T09:00:00Z";
  if (field.kind === "any") return "text, or {{ expression }}";
  return undefined;
}

/**
 * Whether a field shows its own control or `{{ }}` text. A string value in a non-text field is
 * an expression, so the mode follows the value; with no value, the user's choice stands. Going
 * back from an expression the control cannot show keeps the text, to restore it on the way in.
 */
function useExpressionToggle(field: Field, value: unknown, onChange: (value: unknown) => void) {
  const isAny = field.kind === "any";
  const [chosen, setChosen] = useState(isAny || Boolean(field.preferExpression));
  const kept = useRef<string | null>(null);
  const derived = value === undefined || field.kind === "string" ? null : showsAsText(field, value);
  const exprMode = field.kind === "string" ? true : (derived ?? chosen);

  useEffect(() => {
    if (derived !== null) setChosen(derived);
  }, [derived]);

  const toggle = () => {
    if (!exprMode) {
      const text = value === undefined && kept.current ? kept.current : toExpressionText(value);
      kept.current = null;
      setChosen(true);
      onChange(text === "" ? undefined : text);
      return;
    }
    const text = typeof value === "string" ? value : "";
    setChosen(false);
    const back = fromExpressionText(text);
    if (back.ok) {
      onChange(back.value);
      return;
    }
    if (isAny) {
      // Free text typed as JSON ("[1, 2]") becomes that value in the JSON editor.
      try {
        const parsed: unknown = JSON.parse(text);
        if (typeof parsed !== "string") {
          onChange(parsed);
          return;
        }
      } catch {
        // not JSON: kept below
      }
    }
    kept.current = text;
    onChange(undefined);
  };

  return { exprMode, toggle };
}

/** Whether a value is shown as `{{ }}` text rather than in the field's own control. */
function showsAsText(field: Field, value: unknown): boolean {
  if (isExpression(value)) return true;
  if (typeof value !== "string") return false;
  switch (field.kind) {
    case "enum":
      return !field.options.includes(value);
    case "json":
      return false; // a JSON string, shown quoted in the JSON editor
    default:
      return true; // text in a number, list or object field: only an expression can be that
  }
}

function ObjectEditor({ id, field, value, onChange }: { id: string; field: ObjectField; value: unknown; onChange: (value: unknown) => void }) {
  const object = isPlainObject(value) ? value : {};
  return (
    <div className="field-group-body">
      {field.fields.map((inner) => (
        <FieldEditor
          key={inner.name}
          id={`${id}-${safeId(inner.name)}`}
          field={inner}
          value={object[inner.name]}
          onChange={(next) => {
            const updated = withField(object, inner.name, next);
            onChange(isEmptyValue(updated) ? undefined : updated);
          }}
        />
      ))}
    </div>
  );
}

/** A new list item: something the item's control can show, never undefined (JSON has no hole). */
function newItem(field: Field): unknown {
  const value = initialValue(field);
  if (value !== undefined) return value;
  if (field.kind === "string" || field.kind === "any") return "";
  return null;
}

function ListEditor({ id, field, value, onChange }: { id: string; field: ListField; value: unknown; onChange: (value: unknown) => void }) {
  const items = Array.isArray(value) ? value : [];
  const full = field.maxItems !== undefined && items.length >= field.maxItems;
  const set = (next: unknown[]) => onChange(next.length > 0 ? next : undefined);
  return (
    <div className="field-group-body">
      {items.length === 0 && <p className="inspector-muted">No items.</p>}
      {items.map((item, i) => {
        const label = `${field.title} ${i + 1}`;
        return (
          <div className="list-row" key={i}>
            <div className="list-row-field">
              <FieldEditor
                id={`${id}-${i}`}
                field={{ ...field.item, name: String(i), title: label, required: true }}
                hideRequiredMark
                value={item}
                onChange={(next) => {
                  const copy = items.slice();
                  copy[i] = next === undefined ? newItem(field.item) : next;
                  set(copy);
                }}
              />
            </div>
            <div className="list-row-tools">
              <button
                type="button"
                className="ghost small"
                aria-label={`Move ${label} up`}
                title="Move up"
                disabled={i === 0}
                onClick={() => {
                  const copy = items.slice();
                  [copy[i - 1], copy[i]] = [copy[i], copy[i - 1]];
                  set(copy);
                }}
              >
                ↑
              </button>
              <button
                type="button"
                className="ghost small"
                aria-label={`Remove ${label}`}
                title="Remove"
                onClick={() => set(items.filter((_, j) => j !== i))}
              >
                ✕
              </button>
            </div>
          </div>
        );
      })}
      <button
        type="button"
        className="ghost small add-button"
        aria-label={`Add to ${field.title}`}
        disabled={full}
        onClick={() => set([...items, newItem(field.item)])}
      >
        + Add
      </button>
    </div>
  );
}

type Row = { key: string; value: unknown };

function rowsOf(value: unknown): Row[] {
  return isPlainObject(value) ? Object.entries(value).map(([key, v]) => ({ key, value: v })) : [];
}

/** Compares map values the way they are stored: an empty map is no map. */
const mapKey = (value: unknown) => (isEmptyValue(value) ? "" : JSON.stringify(value));

function MapEditor({ id, field, value, onChange }: { id: string; field: MapField; value: unknown; onChange: (value: unknown) => void }) {
  // Rows live here so that a row whose key is not typed yet (not in the value) stays on screen.
  const [rows, setRows] = useState<Row[]>(() => rowsOf(value));
  const emitted = useRef(mapKey(value));
  useEffect(() => {
    const incoming = mapKey(value);
    if (incoming !== emitted.current) {
      emitted.current = incoming;
      setRows(rowsOf(value));
    }
  }, [value]);

  const update = (next: Row[]) => {
    setRows(next);
    const object: Record<string, unknown> = {};
    for (const row of next) if (row.key !== "") object[row.key] = row.value ?? "";
    const stored = Object.keys(object).length > 0 ? object : undefined;
    emitted.current = mapKey(stored);
    onChange(stored);
  };

  const full = field.maxProperties !== undefined && rows.length >= field.maxProperties;
  const seen = new Set<string>();
  return (
    <div className="field-group-body">
      {rows.length === 0 && <p className="inspector-muted">No entries.</p>}
      {rows.map((row, i) => {
        const duplicate = row.key !== "" && seen.has(row.key);
        seen.add(row.key);
        const keyProblem = duplicate
          ? `The key "${row.key}" appears twice: the last one wins.`
          : row.key === ""
            ? null
            : checkKey(field, row.key);
        const keyId = `${id}-key-${i}`;
        return (
          <div className="map-row" key={i}>
            <div className="map-key">
              <label htmlFor={keyId} className="visually-hidden">
                {`${field.title} key ${i + 1}`}
              </label>
              <input
                id={keyId}
                value={row.key}
                placeholder="key"
                spellCheck={false}
                aria-invalid={keyProblem ? true : undefined}
                aria-describedby={keyProblem ? `${keyId}-error` : undefined}
                onChange={(event) => {
                  const copy = rows.slice();
                  copy[i] = { key: event.currentTarget.value, value: row.value };
                  update(copy);
                }}
              />
              {keyProblem && (
                <div id={`${keyId}-error`} className="field-error">
                  {keyProblem}
                </div>
              )}
            </div>
            <div className="map-value">
              <FieldEditor
                id={`${id}-value-${i}`}
                field={{ ...field.value, name: row.key, title: `${field.title} value ${i + 1}`, required: false }}
                value={row.value}
                hideLabel
                onChange={(next) => {
                  const copy = rows.slice();
                  copy[i] = { key: row.key, value: next };
                  update(copy);
                }}
              />
            </div>
            <button
              type="button"
              className="ghost small"
              aria-label={`Remove ${field.title} entry ${i + 1}`}
              title="Remove"
              onClick={() => update(rows.filter((_, j) => j !== i))}
            >
              ✕
            </button>
          </div>
        );
      })}
      <button
        type="button"
        className="ghost small add-button"
        aria-label={`Add to ${field.title}`}
        disabled={full}
        onClick={() => setRows([...rows, { key: "", value: newItem(field.value) }])}
      >
        + Add
      </button>
    </div>
  );
}
