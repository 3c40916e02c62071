// A glyph for a node type's icon name (the connectors name Lucide icons). Plain text symbols,
// so the editor needs no icon font and every glyph takes the theme's colours.
import type { NodeType } from "../api/types";

const GLYPHS: Record<string, string> = {
  zap: "ϟ",
  globe: "◎",
  code: "</>",
  "git-branch": "⎇",
  image: "▣",
  calculator: "∑",
  "scan-text": "▤",
  lock: "◈",
  table: "▦",
  "file-text": "≣",
  clock: "◷",
  mail: "✉",
  database: "⛁",
};

export function glyphOf(nodeType: NodeType | undefined, type: string): string {
  const icon = nodeType?.icon;
  if (icon && GLYPHS[icon]) return GLYPHS[icon];
  const name = nodeType?.name || type;
  return name.slice(0, 1).toUpperCase();
}
