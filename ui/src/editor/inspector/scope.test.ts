import { describe, expect, it } from "vitest";
import type { Execution, Frame } from "../../api/types";
import { completionsFor, describeValue, lastOutput, lookup, scopeOf, startedInput, upstreamOf } from "./scope";
import type { ScopeGraph } from "./scope";

function frame(nodeId: string, status: string, extra: Partial<Frame> = {}): Frame {
  return {
    seq: 0,
    nodeId,
    status,
    attempt: 1,
    item: null,
    port: null,
    input: null,
    output: null,
    error: null,
    startedAt: "2025-01-01T00:00:00Z",
    endedAt: null,
    durationMs: null,
    wakeAt: null,
    ...extra,
  };
}

// start → fetch → (check → notify | log), merge ← notify, log; "other" is not upstream of notify
const workflow: ScopeGraph = {
  vars: { threshold: 100, team: { name: "ops" } },
  edges: [
    { source: "start", target: "fetch" },
    { source: "fetch", target: "check" },
    { source: "check", target: "notify", source_port: "true" },
    { source: "check", target: "log", source_port: "false" },
    { source: "notify", target: "merge" },
    { source: "log", target: "merge" },
    { source: "other", target: "log" },
    { source: "merge", target: "start" }, // a cycle must not loop forever
  ],
};

const run: Pick<Execution, "id" | "input" | "startedAt" | "frames"> = {
  id: "ex_1",
  input: { amount: 250, customer: { id: 7 } },
  startedAt: "2025-01-01T00:00:00Z",
  frames: [
    frame("start", "completed", { output: { amount: 250, customer: { id: 7 } } }),
    frame("fetch", "started", { input: { amount: 250 } }),
    frame("fetch", "retrying", { attempt: 1 }),
    frame("fetch", "completed", { attempt: 2, output: { status: 200, body: { items: [{ sku: "a" }] }, "content-type": "json" } }),
    frame("check", "started", { input: { status: 200 } }),
    frame("check", "completed", { output: { status: 200 }, port: "true" }),
    frame("notify", "started", { input: { status: 200 }, attempt: 1 }),
    frame("notify", "failed", { attempt: 3 }),
  ],
};

describe("upstreamOf", () => {
  it("walks edges backwards, nearest first, through cycles", () => {
    expect(upstreamOf(workflow, "notify")).toEqual(["check", "fetch", "start", "merge", "log", "other"]);
    expect(upstreamOf(workflow, "check")).toEqual(["fetch", "start", "merge", "notify", "log", "other"]);
    expect(upstreamOf({ edges: [{ source: "a", target: "b" }] }, "a")).toEqual([]);
  });
});

describe("values of the last run", () => {
  it("takes a node's last completed output, the whole node's before one item's", () => {
    expect(lastOutput(run, "fetch").value).toMatchObject({ status: 200 });
    expect(lastOutput(run, "notify")).toEqual({ known: false });
    const items = {
      frames: [
        frame("each", "completed", { item: 0, output: "a" }),
        frame("each", "completed", { item: 1, output: "b" }),
        frame("each", "completed", { output: ["a", "b"] }),
      ],
    };
    expect(lastOutput(items, "each").value).toEqual(["a", "b"]);
    expect(lastOutput({ frames: items.frames.slice(0, 2) }, "each").value).toBe("b");
  });

  it("takes a node's input from its started frame", () => {
    expect(startedInput(run, "check")).toEqual({ known: true, value: { status: 200 } });
    expect(startedInput(run, "log")).toEqual({ known: false });
    expect(startedInput(null, "check")).toEqual({ known: false });
  });

  it("describes values in a few words", () => {
    expect(describeValue("abc")).toBe('text "abc"');
    expect(describeValue([1, 2])).toBe("list, 2 items");
    expect(describeValue({ a: 1 })).toBe("object, 1 key");
    expect(describeValue(3)).toBe("number 3");
    expect(describeValue(null)).toBe("null");
  });
});

describe("scopeOf and completionsFor", () => {
  const scope = scopeOf({ workflow, nodeId: "notify", forEach: false, lastRun: run });
  const names = (parent: string[], partial = "") => completionsFor(scope, parent, partial).map((c) => c.name);

  it("offers the names of DESIGN at the root", () => {
    expect(names([])).toEqual(["trigger", "input", "nodes", "vars", "execution"]);
    expect(names([], "n")).toEqual(["nodes"]);
    expect(names([], "IN")).toEqual(["input"]);
  });

  it("offers item and index only under for_each", () => {
    const each = scopeOf({ workflow, nodeId: "notify", forEach: true, lastRun: run, itemSample: { known: true, value: { sku: "a" } } });
    expect(completionsFor(each, [], "i").map((c) => c.name)).toEqual(["input", "item", "index"]);
    expect(completionsFor(each, ["item"], "").map((c) => c.name)).toEqual(["sku"]);
  });

  it("offers only the nodes upstream, and their output", () => {
    expect(names(["nodes"])).toEqual(["check", "fetch", "start", "merge", "log", "other"]);
    expect(names(["nodes", "fetch"])).toEqual(["output"]);
  });

  it("offers the keys a value had in the last run, odd keys last", () => {
    expect(names(["trigger"])).toEqual(["amount", "customer"]);
    expect(names(["trigger", "customer"])).toEqual(["id"]);
    expect(names(["nodes", "fetch", "output"])).toEqual(["status", "body", "content-type"]);
    expect(names(["nodes", "fetch", "output", "body", "items"])).toEqual(["0"]);
    expect(names(["nodes", "fetch", "output", "body", "items", "0"])).toEqual(["sku"]);
    expect(names(["input"])).toEqual(["status"]);
  });

  it("offers vars and execution whether or not there was a run", () => {
    expect(names(["vars"])).toEqual(["threshold", "team"]);
    expect(names(["vars", "team"])).toEqual(["name"]);
    expect(names(["execution"])).toEqual(["id", "started_at", "attempt"]);
    const none = scopeOf({ workflow, nodeId: "notify", forEach: false, lastRun: null });
    expect(completionsFor(none, ["execution"], "").map((c) => c.name)).toEqual(["id", "started_at", "attempt"]);
    expect(completionsFor(none, ["trigger"], "")).toEqual([]);
    expect(completionsFor(none, ["nodes"], "").map((c) => c.name)).toContain("fetch");
  });

  it("describes each entry with its last value and says when it has names below", () => {
    const [amount] = completionsFor(scope, ["trigger"], "am");
    expect(amount).toEqual({ name: "amount", detail: "key · number 250", more: false });
    const [nodes] = completionsFor(scope, [], "no");
    expect(nodes).toMatchObject({ name: "nodes", more: true });
  });

  it("does not offer a name already typed in full", () => {
    expect(completionsFor(scope, ["trigger"], "amount")).toEqual([]);
    expect(completionsFor(scope, ["trigger"], "customer")).toEqual([]);
    expect(completionsFor(scope, ["vars"], "t").map((c) => c.name)).toEqual(["threshold", "team"]);
  });

  it("knows the attempt of the node's frames and answers nothing for unknown paths", () => {
    expect(lookup(scope, ["execution", "attempt"])?.value).toBe(3);
    expect(lookup(scope, ["nope", "x"])).toBeUndefined();
    expect(names(["trigger", "amount"])).toEqual([]);
  });
});
