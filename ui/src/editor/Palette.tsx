// Every node type the server offers, grouped by category (triggers first), to drag onto the
// canvas or add with a click or Enter.
import { useMemo, useState, type DragEvent } from "react";
import type { NodeType } from "../api/types";
import { NODE_TYPE_MIME } from "./Canvas";
import { glyphOf } from "./icons";
import "./editor.css";

export const TRIGGERS_GROUP = "Triggers";

export interface PaletteGroup {
  name: string;
  types: NodeType[];
}

// one collator for all comparisons: String.prototype.localeCompare sets one up on every call
const byLocale = new Intl.Collator().compare;

/** The node types matching `search`, in groups: triggers, then the categories by name. */
export function paletteGroups(types: readonly NodeType[], search: string): PaletteGroup[] {
  const words = search.toLowerCase().split(/\s+/).filter(Boolean);
  const matches = (t: NodeType) => {
    const text = `${t.type} ${t.name} ${t.description} ${t.category} ${t.trigger ? "trigger" : ""}`.toLowerCase();
    return words.every((w) => text.includes(w));
  };
  const groups = new Map<string, NodeType[]>();
  for (const t of types) {
    if (!matches(t)) continue;
    const name = t.trigger ? TRIGGERS_GROUP : t.category || "Other";
    const list = groups.get(name) ?? [];
    list.push(t);
    groups.set(name, list);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => (a === TRIGGERS_GROUP ? -1 : b === TRIGGERS_GROUP ? 1 : byLocale(a, b)))
    .map(([name, list]) => ({ name, types: list.sort((a, b) => byLocale(a.type, b.type)) }));
}

export interface PaletteProps {
  nodeTypes: Record<string, NodeType>;
  onAdd: (type: string) => void;
}

export function Palette({ nodeTypes, onAdd }: PaletteProps) {
  const [search, setSearch] = useState("");
  const groups = useMemo(() => paletteGroups(Object.values(nodeTypes), search), [nodeTypes, search]);

  const onDragStart = (event: DragEvent, type: string) => {
    event.dataTransfer.setData(NODE_TYPE_MIME, type);
    event.dataTransfer.setData("text/plain", type);
    event.dataTransfer.effectAllowed = "copy";
  };

  return (
    <aside className="palette" aria-label="Node types">
      <div className="palette-search">
        <input
          type="search"
          aria-label="Search node types"
          placeholder="Search node types…"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
          onKeyDown={(e) => {
            // Enter adds the only match: search, Enter, done
            const only = groups.length === 1 && groups[0]?.types.length === 1 ? groups[0].types[0] : undefined;
            if (e.key === "Enter" && only) onAdd(only.type);
          }}
        />
      </div>
      <div className="palette-groups">
        {groups.length === 0 && <p className="palette-none">No node type matches “{search}”.</p>}
        {groups.map((group) => (
          <section key={group.name} aria-label={group.name}>
            <h3>{group.name}</h3>
            <ul>
              {group.types.map((t) => (
                <li key={t.type}>
                  <button
                    type="button"
                    className="palette-entry"
                    draggable
                    onDragStart={(e) => onDragStart(e, t.type)}
                    onClick={() => onAdd(t.type)}
                    aria-label={`Add ${t.type}`}
                    title={`${t.name}: ${t.description}\nDrag onto the canvas, or click to add.`}
                  >
                    <span className="step-icon" aria-hidden="true">
                      {glyphOf(t, t.type)}
                    </span>
                    <span className="palette-entry-text">
                      <span className="palette-entry-type">{t.type}</span>
                      <span className="palette-entry-desc">{t.description}</span>
                    </span>
                  </button>
                </li>
              ))}
            </ul>
          </section>
        ))}
      </div>
    </aside>
  );
}
