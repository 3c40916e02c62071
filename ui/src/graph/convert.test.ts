import { examples, nodeType, TYPES } from "./testFixtures";
import { describe, expect, it } from "vitest";
import type { Workflow, WorkflowNode } from "../api/types";
import { defaultEdgeKey } from "../runs/frames";
import type { StepEdge } from "./types";
import {
  COLUMN_WIDTH,
  ORIGIN,
  ROW_HEIGHT,
  edgeId,
  newEdge,
  placement,
  portsOf,
  toFlow,
  toWorkflow,
} from "./convert";


/** A definition as the server answers it: every default filled in, ports explicit. */
function serverShaped(workflow: Workflow): Workflow {
  return {
    name: workflow.name,
    description: workflow.description ?? null,
    tags: workflow.tags ?? [],
    vars: workflow.vars ?? {},
    nodes: workflow.nodes.map((n, i) => ({
      id: n.id,
      type: n.type,
      name: n.name ?? null,
      notes: null,
      params: n.params ?? {},
      credential: null,
      retry: n.retry ?? null,
      timeout_s: n.timeout_s ?? null,
      on_error: n.on_error ?? "fail",
      trigger_rule: n.trigger_rule ?? "all",
      for_each: n.for_each ?? null,
      concurrency: n.concurrency ?? 1,
      position: [100 + i * 10.5, 200 - i * 3],
    })),
    edges: (workflow.edges ?? []).map((e) => ({
      source: e.source,
      target: e.target,
      source_port: e.source_port ?? "main",
      target_port: e.target_port ?? "main",
    })),
    output: workflow.output ?? null,
  };
}

function roundTrip(workflow: Workflow): Workflow {
  const { nodes, edges } = toFlow(workflow, TYPES);
  return toWorkflow(workflow, nodes, edges);
}

describe("round trips", () => {
  const all = examples();

  it("finds the examples", () => {
    expect(all.length).toBeGreaterThanOrEqual(8);
  });

  it.each(all)("%s as written (no positions, ports left out) comes back identical", (_, wf) => {
    const back = roundTrip(wf);
    expect(back).toEqual(wf);
    // key order too: a save must not reshuffle the definition
    expect(JSON.stringify(back)).toBe(JSON.stringify(wf));
  });

  it.each(all)("%s as the server answers it comes back identical", (_, wf) => {
    const served = serverShaped(wf);
    const back = roundTrip(served);
    expect(JSON.stringify(back)).toBe(JSON.stringify(served));
  });

  it.each(all)("%s keeps unchanged node objects and edges by identity", (_, wf) => {
    const back = roundTrip(wf);
    back.nodes.forEach((n, i) => expect(n).toBe(wf.nodes[i]));
    (back.edges ?? []).forEach((e, i) => expect(e).toBe(wf.edges?.[i]));
  });

  it("keeps a workflow without an edges key without one", () => {
    const wf = { name: "one", nodes: [{ id: "a", type: "flow.start" }] } as unknown as Workflow;
    const back = roundTrip(wf);
    expect("edges" in back).toBe(false);
    expect(back).toEqual(wf);
  });
});

describe("toFlow", () => {
  const orderAlert = examples().find(([f]) => f === "order-alert.yaml")![1];

  it("makes one step node per workflow node, in order, with type data and ports", () => {
    const { nodes } = toFlow(orderAlert, TYPES);
    expect(nodes.map((n) => n.id)).toEqual(["start", "check", "alert", "pass", "done"]);
    expect(nodes.every((n) => n.type === "step")).toBe(true);
    const check = nodes[1]!;
    expect(check.data.node).toBe(orderAlert.nodes[1]);
    expect(check.data.nodeType).toBe(TYPES["flow.if"]);
    expect(check.data.ports).toEqual(["true", "false"]);
    expect(check.ariaLabel).toBe("Node check (flow.if)");
  });

  it("wires edge handles to ports", () => {
    const { edges } = toFlow(orderAlert, TYPES);
    const byId = Object.fromEntries(edges.map((e) => [e.id, e]));
    expect(byId["check:true->alert:main"]).toMatchObject({
      source: "check",
      target: "alert",
      sourceHandle: "true",
      targetHandle: "main",
    });
    expect(byId["check:false->pass:main"]?.sourceHandle).toBe("false");
    expect(byId["start:main->check:main"]?.sourceHandle).toBe("main");
    expect(byId["check:true->alert:main"]?.ariaLabel).toBe("Edge from check (true) to alert");
    expect(new Set(edges.map((e) => e.id)).size).toBe(edges.length);
  });

  it("uses saved positions and places the rest left to right", () => {
    const wf: Workflow = {
      ...orderAlert,
      nodes: orderAlert.nodes.map((n) => (n.id === "pass" ? { ...n, position: [999, 5] } : n)),
    };
    const { nodes } = toFlow(wf, TYPES);
    const at = Object.fromEntries(nodes.map((n) => [n.id, n.position]));
    expect(at.pass).toEqual({ x: 999, y: 5 });
    expect(at.start).toEqual({ x: ORIGIN.x, y: ORIGIN.y });
    expect(at.check).toEqual({ x: ORIGIN.x + COLUMN_WIDTH, y: ORIGIN.y });
    expect(at.alert!.x).toBe(ORIGIN.x + 2 * COLUMN_WIDTH);
    expect(at.done!.x).toBe(ORIGIN.x + 3 * COLUMN_WIDTH);
  });

  it("attaches the server's problems to their nodes", () => {
    const { nodes } = toFlow(orderAlert, TYPES, { check: ["params.condition: required"], "": ["x"] });
    expect(nodes[1]!.data.problems).toEqual(["params.condition: required"]);
    expect(nodes[0]!.data.problems).toBeUndefined();
  });

  it("shows a node of an unknown type with a main port", () => {
    const wf = { name: "u", nodes: [{ id: "x", type: "nope.nothing" }], edges: [] } as unknown as Workflow;
    const { nodes } = toFlow(wf, TYPES);
    expect(nodes[0]!.data.nodeType).toBeUndefined();
    expect(nodes[0]!.data.ports).toEqual(["main"]);
  });

  it("keeps edges from ports a node no longer has visible", () => {
    const wf = {
      name: "s",
      nodes: [
        { id: "a", type: "flow.switch", params: { cases: [{ equals: 1, port: "one" }] } },
        { id: "b", type: "flow.set" },
      ],
      edges: [{ source: "a", source_port: "gone", target: "b" }],
    } as unknown as Workflow;
    const { nodes } = toFlow(wf, TYPES);
    expect(nodes[0]!.data.ports).toEqual(["one", "default", "gone"]);
  });

  it("styles error-port edges", () => {
    const wf = examples().find(([f]) => f === "retry-on-error.yaml")![1];
    const { edges } = toFlow(wf, TYPES);
    const error = edges.find((e) => e.sourceHandle === "error")!;
    expect(error.id).toBe("fetch:error->fallback:main");
    expect(error.className).toContain("error-edge");
  });
});

describe("placement", () => {
  it("survives a cycle", () => {
    const wf = {
      name: "c",
      nodes: [
        { id: "a", type: "flow.set" },
        { id: "b", type: "flow.set" },
      ],
      edges: [
        { source: "a", target: "b" },
        { source: "b", target: "a" },
      ],
    } as unknown as Workflow;
    const at = placement(wf);
    expect(Object.keys(at)).toEqual(["a", "b"]);
  });

  it("stacks siblings in rows", () => {
    const wf = examples().find(([f]) => f === "fan-out-merge.yaml")![1];
    const at = placement(wf);
    expect(at.profile).toEqual({ x: ORIGIN.x + COLUMN_WIDTH, y: ORIGIN.y });
    expect(at.orders).toEqual({ x: ORIGIN.x + COLUMN_WIDTH, y: ORIGIN.y + ROW_HEIGHT });
    expect(at.score).toEqual({ x: ORIGIN.x + COLUMN_WIDTH, y: ORIGIN.y + 2 * ROW_HEIGHT });
    expect(at.join!.x).toBe(ORIGIN.x + 2 * COLUMN_WIDTH);
  });
});

describe("portsOf", () => {
  const node = (type: string, extra: Partial<WorkflowNode> = {}) =>
    ({ id: "n", type, ...extra }) as WorkflowNode;

  it("gives if its true and false ports", () => {
    expect(portsOf(node("flow.if"), TYPES["flow.if"])).toEqual(["true", "false"]);
    expect(portsOf(node("flow.if"))).toEqual(["true", "false"]);
  });

  it("gives switch each case's port, then the default port", () => {
    const cases = [
      { equals: "a", port: "large" },
      { equals: "b", port: "small" },
    ];
    expect(portsOf(node("flow.switch", { params: { cases } }))).toEqual(["large", "small", "default"]);
    expect(portsOf(node("flow.switch", { params: { cases, default_port: "other" } }))).toEqual([
      "large",
      "small",
      "other",
    ]);
    expect(portsOf(node("flow.switch", { params: {} }))).toEqual(["default"]);
    // a case without a port (being typed) and repeated ports do not make broken handles
    expect(
      portsOf(node("flow.switch", { params: { cases: [{ equals: 1 }, { port: "x" }, { port: "x" }, null] } })),
    ).toEqual(["x", "default"]);
  });

  it("uses the node type's ports, else main", () => {
    expect(portsOf(node("x.y"), nodeType("x.y", { ports: ["a", "b"] }))).toEqual(["a", "b"]);
    expect(portsOf(node("x.y"), nodeType("x.y", { ports: [] }))).toEqual(["main"]);
    expect(portsOf(node("x.y"))).toEqual(["main"]);
  });

  it("adds the error port with on_error: route only", () => {
    expect(portsOf(node("http.request", { on_error: "route" }), TYPES["http.request"])).toEqual([
      "main",
      "error",
    ]);
    expect(portsOf(node("flow.if", { on_error: "route" }))).toEqual(["true", "false", "error"]);
    expect(portsOf(node("http.request", { on_error: "continue" }))).toEqual(["main"]);
  });
});

describe("edges", () => {
  it("names an edge by its ends and ports, main or not", () => {
    expect(edgeId({ source: "a", target: "b" })).toBe("a:main->b:main");
    expect(edgeId({ source: "a", target: "b", source_port: "main", target_port: "main" })).toBe("a:main->b:main");
    expect(edgeId({ source: "a", target: "b", source_port: "true" })).toBe("a:true->b:main");
    expect(edgeId({ source: "a", target: "b", target_port: "x" })).toBe("a:main->b:x");
  });

  it("names edges as the run overlay does", () => {
    for (const e of [
      { source: "a", target: "b" },
      { source: "a", target: "b", source_port: "error" },
      { source: "a", target: "b", source_port: "main", target_port: "main" },
    ]) {
      expect(edgeId(e)).toBe(defaultEdgeKey(e));
    }
  });

  it("writes new edges without main ports", () => {
    expect(newEdge("a", "main", "b")).toEqual({ source: "a", target: "b" });
    expect(newEdge("a", "false", "b")).toEqual({ source: "a", target: "b", source_port: "false" });
    expect(newEdge("a", "main", "b", "other")).toEqual({ source: "a", target: "b", target_port: "other" });
  });
});

describe("toWorkflow after edits", () => {
  const wf = examples().find(([f]) => f === "order-alert.yaml")![1];

  it("writes a moved node's position, rounded, keeping its other fields in order", () => {
    const { nodes, edges } = toFlow(wf, TYPES);
    nodes[1] = { ...nodes[1]!, position: { x: 10.4, y: 20.6 } };
    const back = toWorkflow(wf, nodes, edges);
    expect(back.nodes[1]).toEqual({ ...wf.nodes[1], position: [10, 21] });
    expect(Object.keys(back.nodes[1]!)).toEqual([...Object.keys(wf.nodes[1]!), "position"]);
    expect(back.nodes[0]).toBe(wf.nodes[0]);
  });

  it("replaces a saved position in place", () => {
    const positioned: Workflow = {
      ...wf,
      nodes: wf.nodes.map((n) => ({ position: [1, 2], ...n }) as WorkflowNode),
    };
    const { nodes, edges } = toFlow(positioned, TYPES);
    nodes[0] = { ...nodes[0]!, position: { x: 50, y: 60 } };
    const back = toWorkflow(positioned, nodes, edges);
    expect(back.nodes[0]!.position).toEqual([50, 60]);
    expect(Object.keys(back.nodes[0]!)[0]).toBe("position");
  });

  it("keeps existing edges as written and writes new ones minimal", () => {
    const { nodes, edges } = toFlow(wf, TYPES);
    const added: StepEdge = {
      id: "x",
      source: "pass",
      target: "alert",
      sourceHandle: "main",
      targetHandle: "main",
    };
    const fromIf: StepEdge = { id: "y", source: "check", target: "done", sourceHandle: "true", targetHandle: null };
    const back = toWorkflow(wf, nodes, [...edges.slice(1), added, fromIf]);
    expect(back.edges).toEqual([
      ...wf.edges.slice(1),
      { source: "pass", target: "alert" },
      { source: "check", target: "done", source_port: "true" },
    ]);
    expect(back.edges[0]).toBe(wf.edges[1]);
  });

  it("drops removed nodes and keeps the rest of the definition", () => {
    const { nodes, edges } = toFlow(wf, TYPES);
    const back = toWorkflow(
      wf,
      nodes.filter((n) => n.id !== "pass"),
      edges.filter((e) => e.source !== "pass" && e.target !== "pass"),
    );
    expect(back.nodes.map((n) => n.id)).toEqual(["start", "check", "alert", "done"]);
    expect(back.edges).toHaveLength(3);
    expect(back.vars).toBe(wf.vars);
    expect(back.output).toBe(wf.output);
    expect(Object.keys(back)).toEqual(Object.keys(wf));
  });
});
