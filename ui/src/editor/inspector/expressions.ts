// Where the caret is in a `{{ … }}` expression, what name it is typing, and how a chosen
// completion is written into the text. Pure, for tests without a DOM.

export interface ExpressionSpan {
  /** Index just after the `{{`. */
  start: number;
  /** Index of the closing `}}`, or the text's length while it is not closed yet. */
  end: number;
  closed: boolean;
}

/** Where the `}}` closing an expression that starts at `pos` is, skipping string literals (as the server does). */
export function closingOf(text: string, pos: number): number {
  let quote = "";
  for (let i = pos; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === "\\") i++;
      else if (ch === quote) quote = "";
    } else if (ch === "'" || ch === '"') {
      quote = ch;
    } else if (text.startsWith("}}", i)) {
      return i;
    }
  }
  return -1;
}

/** Every `{{ … }}` in a text, in order (the last one may be unclosed). */
export function expressionSpans(text: string): ExpressionSpan[] {
  const spans: ExpressionSpan[] = [];
  let pos = 0;
  for (;;) {
    const open = text.indexOf("{{", pos);
    if (open < 0) return spans;
    const close = closingOf(text, open + 2);
    if (close < 0) {
      spans.push({ start: open + 2, end: text.length, closed: false });
      return spans;
    }
    spans.push({ start: open + 2, end: close, closed: true });
    pos = close + 2;
  }
}

/** The expression the caret is in (between `{{` and `}}`, both excluded), or null. */
export function expressionAt(text: string, caret: number): ExpressionSpan | null {
  for (const span of expressionSpans(text)) {
    if (caret >= span.start && caret <= span.end) return span;
    if (span.start > caret) return null;
  }
  return null;
}

/** True when the caret stands inside a quoted string of the expression text before it. */
function inStringLiteral(before: string): boolean {
  let quote = "";
  for (let i = 0; i < before.length; i++) {
    const ch = before[i];
    if (quote) {
      if (ch === "\\") i++;
      else if (ch === quote) quote = "";
    } else if (ch === "'" || ch === '"') {
      quote = ch;
    }
  }
  return quote !== "";
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function isIdentifier(name: string): boolean {
  return IDENTIFIER.test(name);
}

export interface NameAtCaret {
  /** The names before the one being typed: `nodes.fetch.output.bo|` → ["nodes", "fetch", "output"]. */
  parent: string[];
  /** What is typed of the current name: "bo". */
  partial: string;
  /** The range a completion replaces: the partial name and the rest of that word after the caret. */
  from: number;
  to: number;
  /** True right after `{{` (only spaces typed yet): offer the names in scope unasked. */
  atStart: boolean;
}

// A dotted or subscripted path ending at the caret: a.b["c-d"][0].e
const SEGMENT = String.raw`(?:\.[A-Za-z0-9_]+|\[\d+\]|\["(?:[^"\\]|\\.)*"\]|\['(?:[^'\\]|\\.)*'\])`;
const PATH_AT_END = new RegExp(String.raw`(?:^|[^A-Za-z0-9_.\]'"])((?:[A-Za-z_][A-Za-z0-9_]*${SEGMENT}*)\.)?([A-Za-z0-9_]*)$`);
const SEGMENTS = new RegExp(String.raw`^[A-Za-z_][A-Za-z0-9_]*|${SEGMENT}`, "g");

/** Splits `a.b["c-d"][0]` into ["a", "b", "c-d", "0"]. */
export function splitPath(path: string): string[] {
  const names: string[] = [];
  for (const match of path.matchAll(SEGMENTS)) {
    const segment = match[0];
    if (segment.startsWith(".")) names.push(segment.slice(1));
    else if (segment.startsWith("[\"") || segment.startsWith("['")) {
      const body = segment.slice(2, -2);
      names.push(body.replace(/\\(.)/g, "$1"));
    } else if (segment.startsWith("[")) names.push(segment.slice(1, -1));
    else names.push(segment);
  }
  return names;
}

/** The name being typed at the caret inside an expression, or null (outside, in a string, after a number). */
export function nameAtCaret(text: string, caret: number): NameAtCaret | null {
  const span = expressionAt(text, caret);
  if (!span) return null;
  const before = text.slice(span.start, caret);
  if (inStringLiteral(before)) return null;
  const match = PATH_AT_END.exec(before);
  if (!match) return null;
  const parentText = match[1];
  const partial = match[2] ?? "";
  if (!parentText && /^\d/.test(partial)) return null; // a number, not a name
  let to = caret;
  while (to < span.end && /[A-Za-z0-9_]/.test(text[to] ?? "")) to++;
  return {
    parent: parentText ? splitPath(parentText.slice(0, -1)) : [],
    partial,
    from: caret - partial.length,
    to,
    atStart: before.trim() === "",
  };
}

/** How a name is written after its parent: `.name`, `[0]` or `["odd-name"]`. */
export function accessor(name: string): string {
  if (isIdentifier(name)) return `.${name}`;
  if (/^\d+$/.test(name)) return `[${name}]`;
  return `[${JSON.stringify(name)}]`;
}

/** Writes a chosen name over the partial one; answers the new text and where the caret goes. */
export function applyCompletion(
  text: string,
  at: NameAtCaret,
  name: string,
): { text: string; caret: number } {
  let from = at.from;
  let insert = name;
  if (at.parent.length > 0 && !isIdentifier(name)) {
    // Replaces the dot too: `a.` + `x-y` is written a["x-y"].
    if (text[from - 1] === ".") from -= 1;
    insert = accessor(name);
  }
  const next = text.slice(0, from) + insert + text.slice(at.to);
  return { text: next, caret: from + insert.length };
}

/** Wraps a value in `{{ }}` for the Expression toggle: a field's value as an expression. */
export function toExpressionText(value: unknown): string {
  if (value === undefined || value === null || value === "") return "";
  if (typeof value === "string") return value;
  return `{{ ${JSON.stringify(value)} }}`;
}

/** Back from expression text to a native value, when the text is only a literal `{{ … }}`. */
export function fromExpressionText(text: string): { ok: true; value: unknown } | { ok: false } {
  const trimmed = text.trim();
  if (trimmed === "") return { ok: true, value: undefined };
  const spans = expressionSpans(trimmed);
  if (spans.length !== 1 || !trimmed.startsWith("{{") || !trimmed.endsWith("}}")) return { ok: false };
  try {
    return { ok: true, value: JSON.parse(trimmed.slice(2, -2)) as unknown };
  } catch {
    return { ok: false };
  }
}
