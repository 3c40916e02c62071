import { beforeEach, describe, expect, it, vi } from "vitest";
import { nodeType } from "../graph/testFixtures";
import type { Workflow, WorkflowDetail } from "../api/types";
import { edgeId, toFlow } from "../graph/convert";
import {
  CLIPBOARD_KIND,
  COALESCE_MS,
  HISTORY_LIMIT,
  PASTE_OFFSET,
  clipboardText,
  freezePlacement,
  parseClipboard,
  problemsByNode,
  renameReferences,
  uniqueId,
  useEditor,
} from "./editor";


const TYPES = [
  nodeType("flow.start", { trigger: true }),
  nodeType("flow.set"),
  nodeType("flow.if", { ports: ["true", "false"] }),
  nodeType("http.request"),
];

const orderAlert = (): Workflow =>
  ({
    name: "order-alert",
    vars: { threshold: 100 },
    nodes: [
      { id: "start", type: "flow.start" },
      { id: "check", type: "flow.if", params: { condition: "{{ trigger.amount > vars.threshold }}" } },
      { id: "alert", type: "flow.set", params: { values: { level: "high" } } },
      { id: "pass", type: "flow.set", params: { values: { from: "{{ nodes.check.output }}" } } },
    ],
    edges: [
      { source: "start", target: "check" },
      { source: "check", source_port: "true", target: "alert" },
      { source: "check", source_port: "false", target: "pass" },
    ],
    output: "{{ nodes.alert.output if nodes.alert else nodes['pass'].output }}",
  }) as unknown as Workflow;

function detail(definition: Workflow, version = 1, id = "wf-1"): WorkflowDetail {
  return {
    id,
    orgId: "default",
    name: definition.name,
    description: null,
    tags: [],
    active: false,
    version,
    versionId: "x",
    createdAt: "2026-01-01T00:00:00Z",
    updatedAt: "2026-01-01T00:00:00Z",
    lastRun: null,
    definition,
  } as WorkflowDetail;
}

const s = () => useEditor.getState();
const wf = () => s().workflow!;
const ids = () => wf().nodes.map((n) => n.id);
const edgeIds = () => (wf().edges ?? []).map(edgeId);

beforeEach(() => {
  useEditor.setState({ clipboard: null, run: null, lastRun: null });
  s().setNodeTypes(TYPES);
  s().load(detail(orderAlert()));
});

describe("load", () => {
  it("takes the definition, the version, and starts clean", () => {
    expect(s().workflowId).toBe("wf-1");
    expect(s().savedVersion).toBe(1);
    expect(s().dirty).toBe(false);
    expect(s().past).toEqual([]);
    expect(s().nodeTypes["flow.if"]?.ports).toEqual(["true", "false"]);
  });

  it("clears history, selection and problems", () => {
    s().addNode("flow.set");
    s().setProblems([{ field: "nodes[0].type", message: "bad" }]);
    s().load(detail(orderAlert(), 2));
    expect(s().past).toEqual([]);
    expect(s().future).toEqual([]);
    expect(s().selected).toEqual([]);
    expect(s().problems).toEqual({});
    expect(s().savedVersion).toBe(2);
  });

  it("forgets the run shown when another workflow loads", () => {
    s().setRun({ executionId: "e1", nodes: { start: "completed" }, edges: {} });
    s().load(detail(orderAlert(), 3));
    expect(s().run?.executionId).toBe("e1");
    s().load(detail(orderAlert(), 1, "wf-2"));
    expect(s().run).toBeNull();
  });
});

describe("addNode", () => {
  it("names a node after its action, uniquely", () => {
    expect(s().addNode("http.request", { x: 10.4, y: 20.6 })).toBe("request");
    expect(s().addNode("http.request")).toBe("request_2");
    expect(s().addNode("http.request")).toBe("request_3");
    const node = wf().nodes.find((n) => n.id === "request")!;
    expect(node).toMatchObject({ type: "http.request", params: {}, position: [10, 21] });
    expect(s().selected).toEqual(["request_3"]);
    expect(s().dirty).toBe(true);
  });

  it("uses the type's last part for unknown types and places a node without a position", () => {
    const id = s().addNode("acme.do-thing")!;
    expect(id).toBe("do-thing");
    expect(wf().nodes.at(-1)!.position).toBeTruthy();
  });

  it("is one undo step", () => {
    s().addNode("flow.set");
    s().undo();
    expect(ids()).toEqual(["start", "check", "alert", "pass"]);
    expect(s().dirty).toBe(false);
  });

  it("makes valid ids from anything", () => {
    expect(uniqueId("9lives", [])).toBe("_9lives");
    expect(uniqueId("a b.c", [])).toBe("a_b_c");
    expect(uniqueId("", [])).toBe("node");
    expect(uniqueId("set", ["set", "set_2"])).toBe("set_3");
  });
});

describe("connect and edges", () => {
  it("adds an edge without main ports, once", () => {
    s().addNode("flow.set", { x: 0, y: 0 });
    expect(s().connect("alert", "main", "set")).toBe(true);
    expect(wf().edges.at(-1)).toEqual({ source: "alert", target: "set" });
    expect(s().connect("alert", "main", "set")).toBe(false);
    expect(s().connect("check", "true", "set")).toBe(true);
    expect(wf().edges.at(-1)).toEqual({ source: "check", target: "set", source_port: "true" });
  });

  it("refuses self-loops, unknown nodes and duplicates of written-out edges", () => {
    expect(s().connect("alert", "main", "alert")).toBe(false);
    expect(s().connect("alert", "main", "ghost")).toBe(false);
    expect(s().connect("start", "main", "check")).toBe(false);
    expect(s().past).toHaveLength(0);
  });

  it("removes an edge by id, as one step", () => {
    s().removeEdge("check:true->alert:main");
    expect(edgeIds()).toEqual(["start:main->check:main", "check:false->pass:main"]);
    s().undo();
    expect(edgeIds()).toContain("check:true->alert:main");
    s().removeEdge("nope");
    expect(s().future).toHaveLength(1);
  });
});

describe("removeSelected", () => {
  it("removes the selected nodes with their edges, and selected edges", () => {
    s().select(["check"], ["check:false->pass:main"]);
    s().removeSelected();
    expect(ids()).toEqual(["start", "alert", "pass"]);
    expect(wf().edges).toEqual([]);
    expect(s().selected).toEqual([]);
    s().undo();
    expect(ids()).toEqual(["start", "check", "alert", "pass"]);
    expect(wf().edges).toHaveLength(3);
  });

  it("removes just an edge", () => {
    s().select([], ["start:main->check:main"]);
    s().removeSelected();
    expect(ids()).toHaveLength(4);
    expect(edgeIds()).not.toContain("start:main->check:main");
  });

  it("does nothing with nothing selected", () => {
    s().removeSelected();
    expect(s().past).toHaveLength(0);
  });
});

describe("undo and redo", () => {
  it("walk the history both ways; a new change drops the redo branch", () => {
    s().addNode("flow.set");
    s().addNode("flow.set");
    expect(ids()).toContain("set_2");
    s().undo();
    expect(ids()).not.toContain("set_2");
    s().undo();
    expect(ids()).not.toContain("set");
    s().undo(); // nothing more
    s().redo();
    expect(ids()).toContain("set");
    expect(s().dirty).toBe(true);
    s().addNode("flow.if");
    expect(s().future).toEqual([]);
    s().redo();
    expect(ids()).not.toContain("set_2");
  });

  it("drop the selection of nodes that are gone", () => {
    s().addNode("flow.set");
    expect(s().selected).toEqual(["set"]);
    s().undo();
    expect(s().selected).toEqual([]);
  });

  it("are capped", () => {
    for (let i = 0; i < HISTORY_LIMIT + 20; i++) s().addNode("flow.set");
    expect(s().past).toHaveLength(HISTORY_LIMIT);
  });

  it("make typing in one field one step, and different fields separate steps", () => {
    vi.useFakeTimers();
    try {
      vi.setSystemTime(1_000_000);
      s().updateNode("alert", { name: "A" });
      vi.setSystemTime(1_000_100);
      s().updateNode("alert", { name: "Al" });
      vi.setSystemTime(1_000_200);
      s().updateNode("alert", { name: "Ale" });
      expect(s().past).toHaveLength(1);
      s().updateNode("alert", { notes: "x" });
      expect(s().past).toHaveLength(2);
      vi.setSystemTime(1_000_200 + COALESCE_MS + 1);
      s().updateNode("alert", { notes: "xy" });
      expect(s().past).toHaveLength(3);
      s().undo();
      s().undo();
      s().undo();
      expect(wf().nodes[2]!.name).toBeUndefined();
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("updateNode", () => {
  it("patches one node and ignores no-op patches", () => {
    s().updateNode("alert", { params: { values: { level: "low" } }, timeout_s: 5 });
    expect(wf().nodes[2]).toMatchObject({ id: "alert", params: { values: { level: "low" } }, timeout_s: 5 });
    const before = s().past.length;
    s().updateNode("alert", { timeout_s: 5 });
    s().updateNode("ghost", { timeout_s: 5 });
    expect(s().past).toHaveLength(before);
  });

  it("renames through an id in the patch, and refuses a taken id", () => {
    s().updateNode("alert", { id: "warn" });
    expect(ids()).toContain("warn");
    expect(() => s().updateNode("warn", { id: "pass" })).toThrow(/already/);
  });
});

describe("renameNode", () => {
  it("rewrites edges, references, selection and problems", () => {
    s().select(["check"]);
    s().setProblems([{ field: "nodes[1].params.condition", message: "bad" }]);
    expect(s().renameNode("check", "is_big")).toBeNull();
    expect(ids()).toEqual(["start", "is_big", "alert", "pass"]);
    expect(edgeIds()).toEqual(["start:main->is_big:main", "is_big:true->alert:main", "is_big:false->pass:main"]);
    expect(wf().nodes[3]!.params).toEqual({ values: { from: "{{ nodes.is_big.output }}" } });
    expect(s().selected).toEqual(["is_big"]);
    expect(s().problems).toEqual({ is_big: ["params.condition: bad"] });
    s().undo();
    expect(ids()).toContain("check");
  });

  it("rewrites the output expression, bracketed references too", () => {
    s().renameNode("pass", "ok");
    expect(wf().output).toBe("{{ nodes.alert.output if nodes.alert else nodes['ok'].output }}");
  });

  it("refuses bad and taken ids", () => {
    expect(s().renameNode("check", "1abc")).toMatch(/starts with a letter/);
    expect(s().renameNode("check", "alert")).toMatch(/already/);
    expect(s().renameNode("ghost", "x")).toMatch(/no node/);
    expect(s().renameNode("check", "check")).toBeNull();
    expect(s().past).toHaveLength(0);
  });

  it("only touches whole ids", () => {
    expect(renameReferences("{{ nodes.check_2.output + nodes.check.output }}", "check", "c")).toBe(
      "{{ nodes.check_2.output + nodes.c.output }}",
    );
    const value = { a: ["x", { b: "nodes.check" }], n: 3 };
    const out = renameReferences(value, "check", "c");
    expect(out).toEqual({ a: ["x", { b: "nodes.c" }], n: 3 });
    expect(renameReferences(value, "other", "c")).toBe(value);
  });
});

describe("placement of nodes without a position", () => {
  it("stays where it was shown when an edit changes the graph's shape", () => {
    const shown = toFlow(wf(), {}).nodes.map((n) => [n.id, n.position]);
    s().removeEdge("check:false->pass:main"); // "pass" would move to the first column
    const after = toFlow(wf(), {}).nodes.map((n) => [n.id, n.position]);
    expect(after).toEqual(shown);
    // only the node that would have moved is given a position: the diff stays small
    expect(wf().nodes.filter((n) => n.position).map((n) => n.id)).toEqual(["pass"]);
    s().undo();
    expect(wf().nodes.every((n) => !n.position)).toBe(true);
  });

  it("follows a renamed node", () => {
    const before = toFlow(wf(), {}).nodes.map((n) => n.position);
    s().renameNode("check", "gate");
    expect(toFlow(wf(), {}).nodes.map((n) => n.position)).toEqual(before);
  });

  it("adds no positions when nothing would move", () => {
    s().addNode("flow.set", { x: 0, y: 500 });
    expect(wf().nodes.filter((n) => n.position).map((n) => n.id)).toEqual(["set"]);
  });

  it("leaves an untouched definition and placed nodes alone", () => {
    const original = orderAlert();
    s().load(detail(original));
    expect(wf()).toBe(original);
    const placed = { ...original, nodes: original.nodes.map((n) => ({ ...n, position: [1, 2] })) } as Workflow;
    expect(freezePlacement(original, placed)).toBe(placed);
  });
});

describe("moveNodes", () => {
  it("takes one undo step per drag", () => {
    s().moveNodes({ alert: { x: 1, y: 1 } }, false);
    s().moveNodes({ alert: { x: 5, y: 5 } }, false);
    s().moveNodes({ alert: { x: 10.2, y: 20.7 } }, false);
    expect(s().past).toHaveLength(0);
    expect(wf().nodes[2]!.position).toEqual([10, 21]);
    s().moveNodes({ alert: { x: 12, y: 22 } }, true);
    expect(s().past).toHaveLength(1);
    expect(s().dirty).toBe(true);
    s().undo();
    expect(wf().nodes[2]!.position).toBeUndefined();
    expect(s().dirty).toBe(false);
  });

  it("moves several nodes at once and ignores a drag that ends where it began", () => {
    s().moveNodes({ start: { x: 0, y: 0 }, check: { x: 100, y: 0 } });
    expect(s().past).toHaveLength(1);
    s().moveNodes({ start: { x: 0, y: 0 } }, false);
    s().moveNodes({ start: { x: 0, y: 0 } }, true);
    expect(s().past).toHaveLength(1);
    expect(s().dragStart).toBeNull();
  });
});

describe("copy and paste", () => {
  it("copies the selection with the edges between, and pastes with new ids, offset", () => {
    useEditor.getState().moveNodes({ check: { x: 100, y: 100 }, alert: { x: 300, y: 50 } });
    s().select(["check", "alert"]);
    const clip = s().copy()!;
    expect(clip.nodes.map((n) => n.id)).toEqual(["check", "alert"]);
    expect(clip.edges).toEqual([{ source: "check", source_port: "true", target: "alert" }]);
    const pasted = s().paste();
    expect(pasted).toEqual(["check_2", "alert_2"]);
    expect(s().selected).toEqual(pasted);
    const byId = Object.fromEntries(wf().nodes.map((n) => [n.id, n]));
    expect(byId.check_2!.position).toEqual([100 + PASTE_OFFSET, 100 + PASTE_OFFSET]);
    expect(byId.alert_2!.position).toEqual([300 + PASTE_OFFSET, 50 + PASTE_OFFSET]);
    expect(edgeIds()).toContain("check_2:true->alert_2:main");
    // pasting again lands further on, not on top
    const again = s().paste();
    expect(again).toEqual(["check_3", "alert_3"]);
    expect(wf().nodes.find((n) => n.id === "check_3")!.position).toEqual([100 + 2 * PASTE_OFFSET, 100 + 2 * PASTE_OFFSET]);
    s().undo();
    s().undo();
    expect(ids()).toEqual(["start", "check", "alert", "pass"]);
  });

  it("renames references among the pasted nodes", () => {
    s().select(["check", "pass"]);
    s().copy();
    s().paste();
    expect(wf().nodes.find((n) => n.id === "pass_2")!.params).toEqual({
      values: { from: "{{ nodes.check_2.output }}" },
    });
  });

  it("writes clipboard text when it can, and reads it back", async () => {
    const writeText = vi.fn(() => Promise.resolve());
    Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
    s().select(["alert"]);
    const clip = s().copy()!;
    expect(writeText).toHaveBeenCalledOnce();
    const text = (writeText.mock.calls[0] as unknown as [string])[0];
    expect(JSON.parse(text).kind).toBe(CLIPBOARD_KIND);
    expect(parseClipboard(text)).toEqual(clip);
    expect(parseClipboard(clipboardText(clip))).toEqual(clip);
    expect(parseClipboard("hello")).toBeNull();
    expect(parseClipboard('{"kind":"other","nodes":[]}')).toBeNull();
    expect(parseClipboard(JSON.stringify({ kind: CLIPBOARD_KIND, nodes: [{ id: 1 }] }))).toBeNull();
    // pasting text from another tab leaves this tab's clipboard alone
    const outside = parseClipboard(
      JSON.stringify({ kind: CLIPBOARD_KIND, nodes: [{ id: "ext", type: "flow.set" }], edges: [] }),
    )!;
    expect(s().paste(outside)).toEqual(["ext"]);
    expect(s().clipboard).toBe(clip);
  });

  it("copies nothing with nothing selected and pastes nothing from an empty clipboard", () => {
    expect(s().copy()).toBeNull();
    expect(s().paste()).toEqual([]);
    expect(s().past).toHaveLength(0);
  });
});

describe("problems", () => {
  it("maps fields to nodes by index of the definition sent", () => {
    const sent = wf();
    s().setProblems(
      [
        { field: "nodes[1].params.condition", message: "Field required" },
        { field: "body.nodes[2].timeout_s", message: "Input should be greater than 0" },
        { field: "nodes[3]", message: "whole node" },
        { field: "edges[1].target", message: "no node has the id 'x'" },
        { field: "name", message: "too long" },
        { field: "$", message: "cycle" },
      ],
      sent,
    );
    expect(s().problems).toEqual({
      check: ["params.condition: Field required", "edge to alert from port true: no node has the id 'x'"],
      alert: ["timeout_s: Input should be greater than 0"],
      pass: ["whole node"],
      "": ["name: too long", "cycle"],
    });
  });

  it("prefers the node the server names, and uses the definition as sent", () => {
    const sent = wf();
    s().removeEdge("start:main->check:main"); // an edit made while the save was on its way
    const details = [{ field: "nodes[0].type", message: "unknown", node: "check" }];
    expect(problemsByNode(details, sent)).toEqual({ check: ["type: unknown"] });
    expect(problemsByNode([{ field: "nodes[9].type", message: "x" }], sent)).toEqual({
      "": ["nodes[9].type: x"],
    });
    expect(problemsByNode([{ field: "edges[0].source", message: "gone" }], {
      ...sent,
      edges: [{ source: "ghost", target: "check" }],
    } as Workflow)).toEqual({ check: ["edge from ghost: gone"] });
  });

  it("are cleared by a save and by clearProblems", () => {
    s().setProblems([{ field: "nodes[0].type", message: "bad" }]);
    expect(s().problems.start).toEqual(["type: bad"]);
    s().clearProblems();
    expect(s().problems).toEqual({});
    s().setProblems([{ field: "nodes[0].type", message: "bad" }]);
    s().markSaved(detail(wf(), 2), wf());
    expect(s().problems).toEqual({});
  });
});

describe("markSaved and dirty", () => {
  it("takes the new version; the sent definition is the clean state", () => {
    s().addNode("flow.set");
    const sent = wf();
    s().addNode("flow.set"); // typed while saving
    s().markSaved(detail(sent, 2), sent);
    expect(s().savedVersion).toBe(2);
    expect(s().dirty).toBe(true);
    s().undo();
    expect(s().dirty).toBe(false);
  });

  it("is clean again after undoing back to the saved definition", () => {
    s().updateWorkflow({ name: "renamed" });
    expect(s().dirty).toBe(true);
    s().undo();
    expect(s().dirty).toBe(false);
    expect(wf().name).toBe("order-alert");
  });
});

describe("selection", () => {
  it("selects all nodes and edges", () => {
    s().selectAll();
    expect(s().selected).toEqual(["start", "check", "alert", "pass"]);
    expect(s().selectedEdges).toHaveLength(3);
  });

  it("does not notify for the same selection", () => {
    s().select(["a"]);
    const listener = vi.fn();
    const stop = useEditor.subscribe(listener);
    s().select(["a"]);
    expect(listener).not.toHaveBeenCalled();
    stop();
  });
});

describe("autoLayout", () => {
  it("places every node left to right with ELK, as one undo step", async () => {
    await s().autoLayout();
    const at = Object.fromEntries(wf().nodes.map((n) => [n.id, n.position!]));
    expect(Object.values(at).every((p) => Array.isArray(p))).toBe(true);
    expect(at.start![0]).toBeLessThan(at.check![0]);
    expect(at.check![0]).toBeLessThan(at.alert![0]);
    expect(at.alert![0]).toBe(at.pass![0]);
    // ports in order: the "true" branch above the "false" one
    expect(at.alert![1]).toBeLessThan(at.pass![1]);
    expect(s().past).toHaveLength(1);
    s().undo();
    expect(wf().nodes.every((n) => !n.position)).toBe(true);
  });

  it("does nothing when the layout is already in place", async () => {
    await s().autoLayout();
    await s().autoLayout();
    expect(s().past).toHaveLength(1);
  });
});
