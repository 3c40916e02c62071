// A JSON value as a tree people can fold: objects and arrays open and close with buttons (so
// the keyboard works as everywhere else), long strings are cut with "show more", and the whole
// value copies as JSON.
import { useState } from "react";
import { CopyButton } from "../ui/CopyButton";
import "./runs.css";

const LONG_STRING = 160;
const MANY_CHILDREN = 100;

export interface JsonTreeProps {
  value: unknown;
  /** What the value is ("result", "input of check"): names the Copy button. */
  label: string;
  /** Levels open at first (default 2). */
  openDepth?: number;
}

export function JsonTree({ value, label, openDepth = 2 }: JsonTreeProps) {
  return (
    <div className="json-tree">
      <div className="json-tree-bar">
        <span className="json-tree-label">{label}</span>
        <CopyButton
          text={() => JSON.stringify(value, null, 2) ?? "null"}
          ariaLabel={`Copy ${label} as JSON`}
          small
          failedLabel="Copy failed"
        />
      </div>
      <div className="json-tree-body mono">
        <JsonValue value={value} depth={0} openDepth={openDepth} name={null} />
      </div>
    </div>
  );
}

interface ValueProps {
  value: unknown;
  depth: number;
  openDepth: number;
  /** The key or index this value has in its parent; null at the root. */
  name: string | null;
}

function JsonValue({ value, depth, openDepth, name }: ValueProps) {
  if (value !== null && typeof value === "object") {
    return <JsonBranch value={value as object} depth={depth} openDepth={openDepth} name={name} />;
  }
  return (
    <div className="json-row">
      {name !== null && <span className="json-key">{name}: </span>}
      <JsonLeaf value={value} name={name} />
    </div>
  );
}

function JsonBranch({
  value,
  depth,
  openDepth,
  name,
}: {
  value: object;
  depth: number;
  openDepth: number;
  name: string | null;
}) {
  const [open, setOpen] = useState(depth < openDepth);
  const [all, setAll] = useState(false);
  const isArray = Array.isArray(value);
  const entries: [string, unknown][] = isArray
    ? (value as unknown[]).map((v, i) => [String(i), v])
    : Object.entries(value);
  const [opening, closing] = isArray ? ["[", "]"] : ["{", "}"];
  const count = isArray
    ? `${entries.length} item${entries.length === 1 ? "" : "s"}`
    : `${entries.length} key${entries.length === 1 ? "" : "s"}`;
  if (entries.length === 0) {
    return (
      <div className="json-row">
        {name !== null && <span className="json-key">{name}: </span>}
        <span className="json-punct">
          {opening}
          {closing}
        </span>
      </div>
    );
  }
  const shown = all ? entries : entries.slice(0, MANY_CHILDREN);
  return (
    <div className="json-branch">
      <button
        type="button"
        className="json-toggle"
        aria-expanded={open}
        aria-label={`${name ?? "value"}: ${isArray ? "list" : "object"} of ${count}`}
        onClick={() => setOpen(!open)}
      >
        <span className="json-caret" aria-hidden="true">
          {open ? "▾" : "▸"}
        </span>
        {name !== null && <span className="json-key">{name}: </span>}
        <span className="json-punct">{opening}</span>
        {!open && (
          <span className="json-summary">
            {" "}
            {count} <span className="json-punct">{closing}</span>
          </span>
        )}
      </button>
      {open && (
        <>
          <div className="json-children">
            {shown.map(([key, child]) => (
              <JsonValue key={key} value={child} depth={depth + 1} openDepth={openDepth} name={key} />
            ))}
            {shown.length < entries.length && (
              <button type="button" className="link-button" onClick={() => setAll(true)}>
                show all {entries.length}
              </button>
            )}
          </div>
          <div className="json-punct json-close">{closing}</div>
        </>
      )}
    </div>
  );
}

function JsonLeaf({ value, name }: { value: unknown; name: string | null }) {
  const [full, setFull] = useState(false);
  if (typeof value === "string") {
    const long = value.length > LONG_STRING;
    const text = long && !full ? `${value.slice(0, LONG_STRING)}…` : value;
    return (
      <>
        <span className="json-string">{JSON.stringify(text)}</span>
        {long && (
          <button
            type="button"
            className="link-button"
            aria-label={`${full ? "Show less" : "Show more"} of ${name ?? "the text"}`}
            onClick={() => setFull(!full)}
          >
            {full ? "show less" : `show more (${value.length} characters)`}
          </button>
        )}
      </>
    );
  }
  if (typeof value === "number") return <span className="json-number">{String(value)}</span>;
  if (typeof value === "boolean") return <span className="json-bool">{String(value)}</span>;
  if (value === null || value === undefined) return <span className="json-null">null</span>;
  return <span>{String(value)}</span>;
}
