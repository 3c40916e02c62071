import { describe, expect, it } from "vitest";
import { importTypeOf, newDefinition } from "./workflows/importType";

describe("importTypeOf", () => {
  it("follows the file's extension", () => {
    expect(importTypeOf("name: x", "flow.JSON")).toBe("application/json");
    expect(importTypeOf('{"name": "x"}', "flow.yaml")).toBe("application/yaml");
    expect(importTypeOf("{}", "flow.yml")).toBe("application/yaml");
  });

  it("sends pasted text as JSON only when it parses as JSON", () => {
    expect(importTypeOf('  {"name": "x", "nodes": []}\n')).toBe("application/json");
    expect(importTypeOf("name: x\nnodes: []")).toBe("application/yaml");
    expect(importTypeOf("{name: x, nodes: []}")).toBe("application/yaml");
    expect(importTypeOf("")).toBe("application/yaml");
  });

  it("decides by content for other extensions", () => {
    expect(importTypeOf('{"a": 1}', "flow.txt")).toBe("application/json");
    expect(importTypeOf("a: 1", "flow")).toBe("application/yaml");
  });
});

describe("newDefinition", () => {
  it("is one flow.start node", () => {
    expect(newDefinition("demo")).toEqual({
      name: "demo",
      nodes: [{ id: "start", type: "flow.start" }],
      edges: [],
    });
  });
});
