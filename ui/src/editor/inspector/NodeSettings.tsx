// A node's policies: retry, time limit, what an error does, when it runs, for_each.
// Bounds are the workflow model's (RetryPolicy and Node in src/flowforge/model/_workflow.py).
import { useEffect, useRef, useState } from "react";
import type { NodeType, RetryPolicy, WorkflowNode } from "../../api/types";
import { ExpressionField } from "./ExpressionField";
import { CONCURRENCY, ON_ERROR, RETRY_DEFAULTS, RETRY_FIELDS, TIMEOUT, TRIGGER_RULES, parseNumber } from "./nodeSettings";
import type { Bounds, RetryKey } from "./nodeSettings";
import { useDraft } from "./useDraft";
import { checkNumber, describeBounds } from "./values";
import "./inspector.css";

export type SettingsPatch = Partial<Pick<WorkflowNode, "retry" | "timeout_s" | "on_error" | "trigger_rule" | "for_each" | "concurrency">>;

type Settings = Required<{
  [K in keyof SettingsPatch]: SettingsPatch[K] | null;
}>;

function settingsOf(node: WorkflowNode): Settings {
  return {
    retry: node.retry ?? null,
    timeout_s: node.timeout_s ?? null,
    on_error: node.on_error ?? "fail",
    trigger_rule: node.trigger_rule ?? "all",
    for_each: node.for_each ?? null,
    concurrency: node.concurrency ?? 1,
  };
}

export interface NodeSettingsProps {
  node: WorkflowNode;
  nodeType: Pick<NodeType, "forEach" | "trigger"> | undefined;
  onPatch: (patch: SettingsPatch) => void;
  idPrefix: string;
}

export function NodeSettings({ node, nodeType, onPatch, idPrefix }: NodeSettingsProps) {
  const stored = settingsOf(node);
  const { draft, set, flush } = useDraft<Settings>(stored, (next) => {
    // Only what changed: the store's one undo step says what this edit did.
    const patch: Record<string, unknown> = {};
    const now = settingsOf(node);
    for (const key of Object.keys(next) as (keyof Settings)[]) {
      if (JSON.stringify(next[key]) !== JSON.stringify(now[key])) patch[key] = next[key];
    }
    if (Object.keys(patch).length > 0) onPatch(patch as SettingsPatch);
  });
  /** Selects and checkboxes: one click is one edit, committed at once. */
  const setNow = (next: Settings) => {
    set(next);
    flush();
  };

  const retry = draft.retry;
  const id = (name: string) => `${idPrefix}-${name}`;
  const allowsForEach = nodeType?.forEach !== false || Boolean(draft.for_each);
  const onError = ON_ERROR.find((o) => o.value === draft.on_error) ?? ON_ERROR[0];
  const rule = TRIGGER_RULES.find((o) => o.value === draft.trigger_rule) ?? TRIGGER_RULES[0];

  return (
    <div className="node-settings" onBlur={flush}>
      <fieldset className="field-group">
        <legend>Retry</legend>
        <label className="check" htmlFor={id("retry")}>
          <input
            id={id("retry")}
            type="checkbox"
            checked={retry !== null}
            onChange={(event) =>
              setNow({ ...draft, retry: event.currentTarget.checked ? { ...RETRY_DEFAULTS } : null })
            }
          />
          Retry on failure
        </label>
        {retry !== null && (
          <div className="settings-grid">
            {(Object.keys(RETRY_FIELDS) as RetryKey[]).map((key) => (
              <NumberSetting
                key={key}
                id={id(`retry-${key}`)}
                bounds={RETRY_FIELDS[key]}
                value={retry[key] ?? null}
                onChange={(value) => {
                  const next: Record<string, unknown> = { ...retry };
                  if (value === null) delete next[key];
                  else next[key] = value;
                  set({ ...draft, retry: next as RetryPolicy });
                }}
              />
            ))}
          </div>
        )}
      </fieldset>

      <NumberSetting
        id={id("timeout")}
        bounds={TIMEOUT}
        value={draft.timeout_s}
        onChange={(value) => set({ ...draft, timeout_s: value })}
      />

      <div className="field">
        <label htmlFor={id("on-error")}>On error</label>
        <select
          id={id("on-error")}
          value={draft.on_error ?? "fail"}
          aria-describedby={id("on-error-hint")}
          onChange={(event) => setNow({ ...draft, on_error: event.currentTarget.value as Settings["on_error"] })}
        >
          {ON_ERROR.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
        <div id={id("on-error-hint")} className="hint">
          <strong>{onError.label}:</strong> {onError.hint}
          <ul className="choice-hints">
            {ON_ERROR.filter((o) => o !== onError).map((o) => (
              <li key={o.value}>
                <strong>{o.label}:</strong> {o.hint}
              </li>
            ))}
          </ul>
        </div>
      </div>

      {!nodeType?.trigger && (
        <div className="field">
          <label htmlFor={id("trigger-rule")}>Trigger rule</label>
          <select
            id={id("trigger-rule")}
            value={draft.trigger_rule ?? "all"}
            aria-describedby={id("trigger-rule-hint")}
            onChange={(event) =>
              setNow({ ...draft, trigger_rule: event.currentTarget.value as Settings["trigger_rule"] })
            }
          >
            {TRIGGER_RULES.map((o) => (
              <option key={o.value} value={o.value}>
                {o.label}
              </option>
            ))}
          </select>
          <div id={id("trigger-rule-hint")} className="hint">
            <strong>{rule.label}:</strong> {rule.hint}
          </div>
        </div>
      )}

      {allowsForEach && (
        <>
          <div className="field">
            <label htmlFor={id("for-each")}>For each</label>
            <ExpressionField
              id={id("for-each")}
              value={draft.for_each ?? ""}
              placeholder="{{ input.items }}"
              describedBy={id("for-each-hint")}
              invalid={forEachProblem(draft.for_each) !== null}
              onChange={(text) => set({ ...draft, for_each: text === "" ? null : text })}
            />
            <div id={id("for-each-hint")} className="hint">
              An expression giving a list: the node runs once per item, with <code>item</code> and{" "}
              <code>index</code> in scope; its output is the list of results in order.
            </div>
            {forEachProblem(draft.for_each) && <div className="field-error">{forEachProblem(draft.for_each)}</div>}
          </div>
          <NumberSetting
            id={id("concurrency")}
            bounds={CONCURRENCY}
            value={draft.concurrency}
            emptyIsDefault
            onChange={(value) => set({ ...draft, concurrency: value ?? 1 })}
          />
        </>
      )}
    </div>
  );
}

function forEachProblem(value: string | null | undefined): string | null {
  if (!value) return null;
  return value.includes("{{") ? null : "For each must be a {{ }} expression that gives a list.";
}

/** A number setting: its text as typed, its bounds in the hint, a message naming it when out of them. */
function NumberSetting({
  id,
  bounds,
  value,
  onChange,
  emptyIsDefault = false,
}: {
  id: string;
  bounds: Bounds;
  value: number | null | undefined;
  onChange: (value: number | null) => void;
  emptyIsDefault?: boolean;
}) {
  const shown = value === null || value === undefined ? "" : String(value);
  const [text, setText] = useState(shown);
  // What the browser could not read as a number ("1e"): its value is "" while the box shows it.
  const [bad, setBad] = useState(false);
  const last = useRef(shown);
  useEffect(() => {
    if (shown !== last.current) {
      last.current = shown;
      setText(shown);
      setBad(false);
    }
  }, [shown]);
  const parsed = parseNumber(text);
  const problem =
    bad || parsed === null
      ? `${bounds.title} must be a number.`
      : parsed.empty
        ? null
        : checkNumber(bounds, parsed.value);
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  return (
    <div className="field">
      <label htmlFor={id}>{bounds.title}</label>
      <input
        id={id}
        type="number"
        inputMode={bounds.integer ? "numeric" : "decimal"}
        step={bounds.integer ? 1 : "any"}
        min={bounds.minimum ?? bounds.exclusiveMinimum}
        max={bounds.maximum}
        value={text}
        placeholder={bounds.default !== undefined ? String(bounds.default) : "none"}
        aria-describedby={problem ? `${hintId} ${errorId}` : hintId}
        aria-invalid={problem ? true : undefined}
        onChange={(event) => {
          const input = event.currentTarget;
          setText(input.value);
          setBad(input.validity.badInput);
          if (input.validity.badInput) return;
          const next = parseNumber(input.value);
          if (next === null) return;
          const committed = next.empty ? null : next.value;
          // Cleared, a setting with a default stores the default: the box stays empty meanwhile.
          last.current =
            committed !== null ? String(committed) : emptyIsDefault ? String(bounds.default) : "";
          onChange(committed);
        }}
      />
      <div id={hintId} className="hint">
        {bounds.hint} <span className="hint-extra">({describeBounds(bounds)})</span>
      </div>
      {problem && (
        <div id={errorId} className="field-error">
          {problem}
        </div>
      )}
    </div>
  );
}
