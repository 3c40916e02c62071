// Shared by the graph and editor store tests: the example workflows and node types like the
// server's.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import type { NodeType, Workflow } from "../api/types";

export const EXAMPLES = join(__dirname, "../../../examples");

export function examples(): [string, Workflow][] {
  const files = readdirSync(EXAMPLES).filter((f) => f.endsWith(".yaml"));
  files.push(...readdirSync(join(EXAMPLES, "lib")).map((f) => join("lib", f)));
  return files.map((f) => [f, parse(readFileSync(join(EXAMPLES, f), "utf8")) as Workflow]);
}

export function nodeType(type: string, extra: Partial<NodeType> = {}): NodeType {
  const [connector = "", action = ""] = type.split(".");
  return {
    type,
    connector,
    action,
    name: connector,
    description: "",
    category: "Core",
    icon: null,
    version: "1",
    docsUrl: null,
    ports: ["main"],
    trigger: false,
    forEach: true,
    service: null,
    inputSchema: {},
    outputSchema: null,
    credentialSchema: null,
    ...extra,
  };
}

export const TYPES: Record<string, NodeType> = {
  "flow.start": nodeType("flow.start", { trigger: true }),
  "flow.set": nodeType("flow.set"),
  "flow.if": nodeType("flow.if", { ports: ["true", "false"] }),
  "flow.switch": nodeType("flow.switch"),
  "flow.merge": nodeType("flow.merge"),
  "flow.fail": nodeType("flow.fail"),
  "http.request": nodeType("http.request"),
};
