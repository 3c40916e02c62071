// A text field that takes `{{ }}` expressions: completions of the names in scope while the caret
// is inside `{{ … }}` (an ARIA combobox), and a live preview of the value in the last run.
import { useEffect, useLayoutEffect, useRef, useState } from "react";
import type { ChangeEvent, KeyboardEvent, SyntheticEvent } from "react";
import { applyCompletion, nameAtCaret } from "./expressions";
import type { NameAtCaret } from "./expressions";
import { previewExpression, useExpressionEnv } from "./expressionEnv";
import type { PreviewResult } from "./expressionEnv";
import { completionsFor } from "./scope";
import type { Completion } from "./scope";
import { isExpression } from "./values";
import "./inspector.css";

export interface ExpressionFieldProps {
  id: string;
  value: string;
  onChange: (text: string) => void;
  onBlur?: () => void;
  multiline?: boolean;
  placeholder?: string;
  /** Ids of the hint and error under the field. */
  describedBy?: string;
  invalid?: boolean;
  required?: boolean;
  /** The accessible name when no <label htmlFor={id}> names the field. */
  ariaLabel?: string;
  /** Show the live preview under the field (default: when the text holds an expression). */
  preview?: boolean;
  /** Height of a multiline field, in lines. */
  rows?: number;
}

const MAX_OPTIONS = 50;

interface Menu {
  at: NameAtCaret;
  items: Completion[];
}

export function ExpressionField({
  id,
  value,
  onChange,
  onBlur,
  multiline = false,
  placeholder,
  describedBy,
  invalid,
  required,
  ariaLabel,
  preview = true,
  rows,
}: ExpressionFieldProps) {
  const env = useExpressionEnv();
  const inputRef = useRef<HTMLInputElement>(null);
  const areaRef = useRef<HTMLTextAreaElement>(null);
  const [menu, setMenu] = useState<Menu | null>(null);
  const [active, setActive] = useState(0);
  const caretAfterRender = useRef<number | null>(null);
  /** The text and caret the list was last computed for: a select event without a move is no news. */
  const seen = useRef<{ text: string; caret: number } | null>(null);
  const listId = `${id}-completions`;
  const expression = isExpression(value);

  const element = () => inputRef.current ?? areaRef.current;

  /** Opens, updates or closes the list for the caret at `caret` in `text`. */
  const refresh = (text: string, caret: number, force = false) => {
    seen.current = { text, caret };
    const at = nameAtCaret(text, caret);
    const typing = at && (force || at.atStart || at.parent.length > 0 || at.partial !== "");
    if (!at || !typing) {
      setMenu(null);
      return;
    }
    const items = completionsFor(env.scope, at.parent, at.partial).slice(0, MAX_OPTIONS);
    if (items.length === 0) {
      setMenu(null);
      return;
    }
    setMenu({ at, items });
    setActive(0);
  };

  const accept = (completion: Completion) => {
    if (!menu) return;
    const next = applyCompletion(value, menu.at, completion.name);
    caretAfterRender.current = next.caret;
    setMenu(null);
    onChange(next.text);
  };

  // The caret goes after the inserted name once the new text is on screen.
  useLayoutEffect(() => {
    const caret = caretAfterRender.current;
    const el = element();
    if (caret === null || !el) return;
    caretAfterRender.current = null;
    el.focus();
    el.setSelectionRange(caret, caret);
  });

  useEffect(() => {
    if (!menu) return;
    const option = document.getElementById(`${listId}-${active}`);
    option?.scrollIntoView?.({ block: "nearest" });
  }, [menu, active, listId]);

  const handleChange = (event: ChangeEvent<HTMLInputElement | HTMLTextAreaElement>) => {
    const text = event.currentTarget.value;
    onChange(text);
    refresh(text, event.currentTarget.selectionStart ?? text.length);
  };

  const handleSelect = (event: SyntheticEvent<HTMLInputElement | HTMLTextAreaElement>) => {
    // Moving the caret with the list open follows it (or closes the list outside a name).
    if (!menu) return;
    const el = event.currentTarget;
    const caret = el.selectionStart ?? el.value.length;
    if (seen.current && seen.current.text === el.value && seen.current.caret === caret) return;
    refresh(el.value, caret);
  };

  const handleKeyDown = (event: KeyboardEvent<HTMLInputElement | HTMLTextAreaElement>) => {
    if (event.key === " " && event.ctrlKey) {
      event.preventDefault();
      const el = event.currentTarget;
      refresh(el.value, el.selectionStart ?? el.value.length, true);
      return;
    }
    if (!menu) return;
    const count = menu.items.length;
    switch (event.key) {
      case "ArrowDown":
        event.preventDefault();
        setActive((i) => (i + 1) % count);
        break;
      case "ArrowUp":
        event.preventDefault();
        setActive((i) => (i - 1 + count) % count);
        break;
      case "Home":
      case "End":
        if (event.ctrlKey) {
          event.preventDefault();
          setActive(event.key === "Home" ? 0 : count - 1);
        }
        break;
      case "Enter":
      case "Tab": {
        const chosen = menu.items[active];
        if (chosen) {
          event.preventDefault();
          accept(chosen);
        }
        break;
      }
      case "Escape":
        // Closes the list only: the editor's own Escape (deselect) must not fire as well.
        event.preventDefault();
        event.stopPropagation();
        setMenu(null);
        break;
    }
  };

  const common = {
    id,
    value,
    placeholder,
    required,
    role: "combobox",
    "aria-label": ariaLabel,
    "aria-autocomplete": "list" as const,
    "aria-expanded": menu !== null,
    "aria-controls": listId,
    "aria-activedescendant": menu ? `${listId}-${active}` : undefined,
    "aria-describedby": [describedBy, preview && expression ? `${id}-preview` : undefined].filter(Boolean).join(" ") || undefined,
    "aria-invalid": invalid || undefined,
    spellCheck: false,
    autoComplete: "off",
    className: `expr-input${expression ? " is-expression" : ""}`,
    onChange: handleChange,
    onKeyDown: handleKeyDown,
    onSelect: handleSelect,
    onBlur: () => {
      setMenu(null);
      onBlur?.();
    },
  };

  return (
    <div className="expr-field">
      <div className="expr-box">
        {multiline ? (
          <textarea ref={areaRef} rows={rows ?? 6} {...common} />
        ) : (
          <input ref={inputRef} type="text" {...common} />
        )}
        {expression && (
          <span className="expr-badge" aria-hidden="true">
            expression
          </span>
        )}
        <ul
          id={listId}
          role="listbox"
          aria-label="Completions"
          className="expr-menu"
          hidden={menu === null}
        >
          {menu?.items.map((item, i) => (
            <li
              key={item.name}
              id={`${listId}-${i}`}
              role="option"
              aria-selected={i === active}
              className={i === active ? "active" : undefined}
              // mousedown, not click: the field keeps the focus (and its caret).
              onMouseDown={(event) => {
                event.preventDefault();
                accept(item);
              }}
              onMouseEnter={() => setActive(i)}
            >
              <span className="expr-option-name">
                {item.name}
                {item.more ? "…" : ""}
              </span>
              <span className="expr-option-detail">{item.detail}</span>
            </li>
          ))}
        </ul>
      </div>
      {preview && expression && <ExpressionPreview id={`${id}-preview`} text={value} />}
    </div>
  );
}

const PREVIEW_CHARS = 300;

export function compactJson(value: unknown): string {
  let text: string;
  try {
    text = value === undefined ? "undefined" : JSON.stringify(value);
  } catch {
    text = String(value);
  }
  return text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS - 1)}…` : text;
}

/** The value of `text` in the node's scope in the last run, evaluated by the server. */
function ExpressionPreview({ id, text }: { id: string; text: string }) {
  const { executionId, nodeId, item } = useExpressionEnv();
  const [result, setResult] = useState<PreviewResult | null>(null);
  const [loading, setLoading] = useState(false);

  useEffect(() => {
    if (!executionId) return;
    const controller = new AbortController();
    const timer = setTimeout(() => {
      setLoading(true);
      previewExpression(text, { executionId, nodeId, item }, controller.signal).then(
        (answer) => {
          if (controller.signal.aborted) return;
          setResult(answer);
          setLoading(false);
        },
        (error: unknown) => {
          if (controller.signal.aborted) return;
          setResult({ ok: false, error: error instanceof Error ? error.message : String(error) });
          setLoading(false);
        },
      );
    }, 300);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [text, executionId, nodeId, item]);

  let body;
  if (!executionId) {
    body = <span className="expr-preview-muted">Run the workflow once to preview</span>;
  } else if (!result) {
    body = <span className="expr-preview-muted">…</span>;
  } else if (result.ok) {
    body = <code className="expr-preview-value">{compactJson(result.value)}</code>;
  } else if ("unavailable" in result) {
    body = <span className="expr-preview-muted">{result.unavailable}</span>;
  } else {
    body = <span className="expr-preview-error">{result.error}</span>;
  }
  return (
    <div id={id} className={`expr-preview${loading ? " loading" : ""}`} aria-live="polite">
      <span className="expr-preview-label">Preview</span> {body}
    </div>
  );
}
