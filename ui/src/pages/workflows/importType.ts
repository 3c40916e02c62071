// Which Content-Type a workflow file goes to the server with: its extension says, and text
// without one is JSON when it parses as JSON (YAML otherwise: every JSON document is YAML
// too, but the server's JSON reader gives better positions for JSON).

export type ImportType = "application/json" | "application/yaml";

export function importTypeOf(text: string, fileName?: string | null): ImportType {
  const lower = (fileName ?? "").toLowerCase();
  if (lower.endsWith(".json")) return "application/json";
  if (lower.endsWith(".yaml") || lower.endsWith(".yml")) return "application/yaml";
  const trimmed = text.trim();
  if (!trimmed.startsWith("{") && !trimmed.startsWith("[")) return "application/yaml";
  try {
    JSON.parse(trimmed);
    return "application/json";
  } catch {
    return "application/yaml";
  }
}

/** The minimal definition the server accepts: one manual/API trigger. */
export function newDefinition(name: string) {
  return {
    name,
    nodes: [{ id: "start", type: "flow.start" }],
    edges: [],
  };
}
