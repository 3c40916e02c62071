import { describe, expect, it } from "vitest";
import type { Frame } from "../api/types";
import {
  triggerOf,
  between,
  defaultEdgeKey,
  describeFrame,
  formatDuration,
  formatMoment,
  isFinished,
  lastInput,
  lastSeq,
  nodeDetail,
  runStatusOf,
  statusAt,
  type RunGraph,
} from "./frames";

let clock = Date.parse("2026-01-01T10:00:00Z");

/** A frame as the server sends it; seq numbers follow the call order unless given. */
function frame(nodeId: string, status: string, extra: Partial<Frame> = {}): Frame {
  clock += 1000;
  const at = new Date(clock).toISOString();
  const egress = status !== "started" && status !== "skipped";
  return {
    seq: 0,
    nodeId,
    status,
    attempt: status === "skipped" ? 0 : 1,
    item: null,
    port: status === "completed" ? "main" : null,
    input: null,
    output: null,
    error: null,
    startedAt: at,
    endedAt: egress ? at : null,
    durationMs: egress ? 5 : null,
    wakeAt: null,
    ...extra,
  };
}

function journal(...frames: Frame[]): Frame[] {
  return frames.map((f, i) => ({ ...f, seq: f.seq || i + 1 }));
}

const orderAlert: RunGraph = {
  nodes: [
    { id: "start" },
    { id: "check" },
    { id: "alert" },
    { id: "pass" },
    { id: "done" },
  ],
  edges: [
    { source: "start", target: "check" },
    { source: "check", source_port: "true", target: "alert" },
    { source: "check", source_port: "false", target: "pass" },
    { source: "alert", target: "done" },
    { source: "pass", target: "done" },
  ],
};
const key = (i: number) => defaultEdgeKey(orderAlert.edges[i]!);

const smallOrder = journal(
  frame("start", "started", { input: { amount: 5 } }),
  frame("start", "completed", { output: { amount: 5 } }),
  frame("check", "started", { input: { amount: 5 } }),
  frame("check", "completed", { port: "false", output: { amount: 5 } }),
  frame("alert", "skipped"),
  frame("pass", "started", { input: { amount: 5 } }),
  frame("pass", "completed", { output: { level: "normal" } }),
  frame("done", "started", { input: { level: "normal" } }),
  frame("done", "completed", { output: { level: "normal" } }),
);

describe("statusAt", () => {
  it("shows nothing before the first frame", () => {
    const at = statusAt(smallOrder, 0, orderAlert);
    expect(at.nodes).toEqual({});
    expect(at.edges).toEqual({});
    expect(at.current).toBeUndefined();
  });

  it("marks a started node running and gives the current frame", () => {
    const at = statusAt(smallOrder, 1, orderAlert);
    expect(at.nodes).toEqual({ start: "running" });
    expect(at.current?.seq).toBe(1);
    expect(at.edges).toEqual({});
  });

  it("animates the edge into a running node and completes it after", () => {
    const running = statusAt(smallOrder, 3, orderAlert);
    expect(running.nodes).toEqual({ start: "completed", check: "running" });
    expect(running.edges[key(0)]).toBe("running");
    const done = statusAt(smallOrder, 4, orderAlert);
    expect(done.edges[key(0)]).toBe("completed");
  });

  it("delivers only the port an if chose; the other edge is dead", () => {
    const at = statusAt(smallOrder, 4, orderAlert);
    expect(at.nodes.check).toBe("completed");
    expect(at.edges[key(2)]).toBe("completed");
    expect(at.edges[key(1)]).toBe("skipped");
  });

  it("marks skipped nodes and their outgoing edges", () => {
    const at = statusAt(smallOrder, 5, orderAlert);
    expect(at.nodes.alert).toBe("skipped");
    expect(at.edges[key(3)]).toBe("skipped");
    expect(at.edges[key(4)]).toBeUndefined();
  });

  it("folds the whole journal at or past the end", () => {
    const end = statusAt(smallOrder, 9, orderAlert);
    expect(end.nodes).toEqual({
      start: "completed",
      check: "completed",
      alert: "skipped",
      pass: "completed",
      done: "completed",
    });
    expect(statusAt(smallOrder, 1000, orderAlert)).toEqual(end);
    expect(end.current?.seq).toBe(9);
  });

  it("reads frames in seq order whatever order they came in", () => {
    const shuffled = [...smallOrder].reverse();
    expect(statusAt(shuffled, 4, orderAlert)).toEqual(statusAt(smallOrder, 4, orderAlert));
  });

  it("uses the edge key it is given", () => {
    const at = statusAt(smallOrder, 4, orderAlert, { edgeKey: (_e, i) => `e${i}` });
    expect(at.edges).toEqual({ e0: "completed", e1: "skipped", e2: "completed" });
  });

  it("follows a switch's chosen port", () => {
    const graph: RunGraph = {
      nodes: [{ id: "route" }, { id: "a" }, { id: "b" }, { id: "other" }],
      edges: [
        { source: "route", source_port: "a", target: "a" },
        { source: "route", source_port: "b", target: "b" },
        { source: "route", source_port: "default", target: "other" },
      ],
    };
    const frames = journal(
      frame("route", "started"),
      frame("route", "completed", { port: "b" }),
      frame("b", "started"),
    );
    const at = statusAt(frames, 3, graph, { edgeKey: (_e, i) => String(i) });
    expect(at.edges).toEqual({ "0": "skipped", "1": "running", "2": "skipped" });
    expect(at.nodes.b).toBe("running");
  });

  it("shows retries, then failure, without delivering any edge", () => {
    const graph: RunGraph = {
      nodes: [{ id: "call" }, { id: "next" }],
      edges: [{ source: "call", target: "next" }],
    };
    const frames = journal(
      frame("call", "started"),
      frame("call", "retrying", { error: { message: "503", type: "HttpError" } }),
      frame("call", "started", { attempt: 2 }),
      frame("call", "failed", { attempt: 2, error: { message: "503", type: "HttpError" } }),
    );
    expect(statusAt(frames, 2, graph).nodes.call).toBe("retrying");
    expect(statusAt(frames, 3, graph).nodes.call).toBe("running");
    const end = statusAt(frames, 4, graph);
    expect(end.nodes.call).toBe("failed");
    expect(end.edges).toEqual({});
  });

  it("routes a failed node's error out of the error port with on_error: route", () => {
    const graph: RunGraph = {
      nodes: [{ id: "call", on_error: "route" }, { id: "ok" }, { id: "handle" }],
      edges: [
        { source: "call", target: "ok" },
        { source: "call", source_port: "error", target: "handle" },
      ],
    };
    const frames = journal(
      frame("call", "started"),
      frame("call", "failed", { error: { message: "boom", type: "Error" } }),
      frame("ok", "skipped"),
      frame("handle", "started"),
    );
    const at = statusAt(frames, 4, graph, { edgeKey: (_e, i) => String(i) });
    expect(at.nodes).toEqual({ call: "failed", ok: "skipped", handle: "running" });
    expect(at.edges).toEqual({ "0": "skipped", "1": "running" });
  });

  it("delivers main after a failure with on_error: continue", () => {
    const graph: RunGraph = {
      nodes: [{ id: "call", on_error: "continue" }, { id: "next" }],
      edges: [{ source: "call", target: "next" }],
    };
    const frames = journal(frame("call", "started"), frame("call", "failed"));
    expect(statusAt(frames, 2, graph, { edgeKey: () => "e" }).edges).toEqual({ e: "completed" });
  });

  it("shows waiting, then completed, for a wait", () => {
    const graph: RunGraph = { nodes: [{ id: "pause" }], edges: [] };
    const frames = journal(
      frame("pause", "started"),
      frame("pause", "waiting", { wakeAt: "2026-01-01T11:00:00Z" }),
      frame("pause", "completed"),
    );
    expect(statusAt(frames, 2, graph).nodes.pause).toBe("waiting");
    expect(statusAt(frames, 3, graph).nodes.pause).toBe("completed");
  });

  it("shows cancelled nodes, and an interrupted one as running again", () => {
    const graph: RunGraph = { nodes: [{ id: "a" }, { id: "b" }], edges: [] };
    const frames = journal(
      frame("a", "started"),
      frame("b", "started"),
      frame("a", "interrupted"),
      frame("b", "cancelled"),
    );
    const at = statusAt(frames, 4, graph);
    expect(at.nodes).toEqual({ a: "running", b: "cancelled" });
  });

  describe("for_each", () => {
    const graph: RunGraph = {
      nodes: [{ id: "lines", for_each: "{{ trigger.items }}" }, { id: "total" }],
      edges: [{ source: "lines", target: "total" }],
    };
    const item = (status: string, i: number, extra: Partial<Frame> = {}) =>
      frame("lines", status, { item: i, ...extra });
    const frames = journal(
      item("started", 0),
      item("started", 1),
      item("completed", 0),
      item("started", 2),
      item("completed", 1),
      item("completed", 2),
      frame("total", "started"),
    );

    it("is running while any item runs", () => {
      for (const upTo of [1, 2, 3, 4, 5]) {
        expect(statusAt(frames, upTo, graph).nodes.lines).toBe("running");
      }
    });

    it("completes once every item has, and only then delivers its edge", () => {
      expect(statusAt(frames, 5, graph, { edgeKey: () => "e" }).edges).toEqual({});
      const at = statusAt(frames, 6, graph, { edgeKey: () => "e" });
      expect(at.nodes.lines).toBe("completed");
      expect(at.edges).toEqual({ e: "completed" });
      expect(statusAt(frames, 7, graph, { edgeKey: () => "e" }).edges).toEqual({ e: "running" });
    });

    it("stays running between items when later items are known", () => {
      const serial = journal(
        item("started", 0),
        item("completed", 0),
        item("started", 1),
        item("completed", 1),
      );
      expect(statusAt(serial, 2, graph).nodes.lines).toBe("running");
      expect(statusAt(serial, 4, graph).nodes.lines).toBe("completed");
    });

    it("fails when any item fails, and shows retrying items", () => {
      const failing = journal(
        item("started", 0),
        item("started", 1),
        item("retrying", 1),
        item("completed", 0),
        item("failed", 1, { attempt: 2 }),
        item("cancelled", 2),
      );
      expect(statusAt(failing, 3, graph).nodes.lines).toBe("running");
      expect(statusAt(failing, 4, graph).nodes.lines).toBe("retrying");
      expect(statusAt(failing, 5, graph).nodes.lines).toBe("failed");
      expect(statusAt(failing, 6, graph).nodes.lines).toBe("failed");
    });

    it("infers a completed for_each over an empty list from its successor", () => {
      const empty = journal(frame("total", "started"));
      const at = statusAt(empty, 1, graph, { edgeKey: () => "e" });
      expect(at.nodes).toEqual({ lines: "completed", total: "running" });
      expect(at.edges).toEqual({ e: "running" });
    });
  });

  it("marks the node the run's error names when it failed without a frame", () => {
    const graph: RunGraph = {
      nodes: [{ id: "start" }, { id: "lines", for_each: "{{ 3 }}" }],
      edges: [{ source: "start", target: "lines" }],
    };
    const frames = journal(frame("start", "started"), frame("start", "completed"));
    const runError = { node: "lines", message: "for_each must give a list" };
    expect(statusAt(frames, 2, graph, { runError }).nodes.lines).toBe("failed");
    // not before the end of the journal: time travel shows what was known then
    expect(statusAt(frames, 1, graph, { runError }).nodes.lines).toBeUndefined();
    // nor a node that completed, nor one the workflow does not have
    expect(statusAt(frames, 2, graph, { runError: { node: "start" } }).nodes.start).toBe(
      "completed",
    );
    expect(statusAt(frames, 2, graph, { runError: { node: "ghost" } }).nodes.ghost).toBeUndefined();
  });
});

describe("nodeDetail", () => {
  it("joins each attempt's ingress and egress", () => {
    const [attempt] = nodeDetail(smallOrder, "check", 9);
    expect(attempt).toMatchObject({
      attempt: 1,
      item: null,
      status: "completed",
      input: { amount: 5 },
      output: { amount: 5 },
      port: "false",
      durationMs: 5,
      firstSeq: 3,
      lastSeq: 4,
    });
    expect(attempt?.startedAt).toBe(smallOrder[2]?.startedAt);
    expect(attempt?.endedAt).toBe(smallOrder[3]?.endedAt);
  });

  it("shows the node as it was at a moment", () => {
    const [attempt] = nodeDetail(smallOrder, "check", 3);
    expect(attempt?.status).toBe("started");
    expect(attempt?.output).toBeNull();
    expect(attempt?.endedAt).toBeNull();
    expect(nodeDetail(smallOrder, "check", 2)).toEqual([]);
  });

  it("lists retries as separate attempts with their errors", () => {
    const frames = journal(
      frame("call", "started", { input: { n: 1 } }),
      frame("call", "retrying", { error: { message: "503", type: "HttpError" } }),
      frame("call", "started", { attempt: 2, input: { n: 1 } }),
      frame("call", "failed", { attempt: 2, error: { message: "500", type: "HttpError" } }),
    );
    const attempts = nodeDetail(frames, "call", 4);
    expect(attempts.map((a) => [a.attempt, a.status, a.error?.message])).toEqual([
      [1, "retrying", "503"],
      [2, "failed", "500"],
    ]);
    expect(attempts[1]?.input).toEqual({ n: 1 });
  });

  it("lists for_each items apart", () => {
    const frames = journal(
      frame("lines", "started", { item: 0, input: [1, 2] }),
      frame("lines", "started", { item: 1, input: [1, 2] }),
      frame("lines", "completed", { item: 1, output: "b" }),
      frame("lines", "completed", { item: 0, output: "a" }),
    );
    const attempts = nodeDetail(frames, "lines", 4);
    expect(attempts.map((a) => [a.item, a.output])).toEqual([
      [0, "a"],
      [1, "b"],
    ]);
  });

  it("keeps a skipped node as one entry without an attempt", () => {
    const [skipped] = nodeDetail(smallOrder, "alert", 9);
    expect(skipped).toMatchObject({ status: "skipped", attempt: 0, input: null });
  });

  it("keeps the wake time of a wait", () => {
    const frames = journal(
      frame("pause", "started"),
      frame("pause", "waiting", { wakeAt: "2026-01-01T11:00:00Z" }),
    );
    expect(nodeDetail(frames, "pause", 2)[0]).toMatchObject({
      status: "waiting",
      wakeAt: "2026-01-01T11:00:00Z",
    });
  });
});

describe("helpers", () => {
  it("gives the input a node last ran with", () => {
    expect(lastInput(smallOrder, "pass")).toEqual({ amount: 5 });
    expect(lastInput(smallOrder, "alert")).toBeNull();
    expect(lastInput(smallOrder, "nobody")).toBeNull();
  });

  it("gives the journal's last seq", () => {
    expect(lastSeq(smallOrder)).toBe(9);
    expect(lastSeq([])).toBe(0);
  });

  it("describes frames for the scrubber", () => {
    expect(describeFrame(smallOrder[3]!)).toBe("check completed → false");
    expect(describeFrame(frame("lines", "started", { item: 2, attempt: 3 }))).toBe(
      "lines[2] started (attempt 3)",
    );
  });

  it("formats durations", () => {
    expect(formatDuration(null)).toBe("—");
    expect(formatDuration(840)).toBe("840 ms");
    expect(formatDuration(3210)).toBe("3.2 s");
    expect(formatDuration(42_000)).toBe("42 s");
    expect(formatDuration(245_000)).toBe("4 min 5 s");
    expect(formatDuration(7_380_000)).toBe("2 h 3 min");
  });

  it("formats moments", () => {
    expect(formatMoment(null)).toBe("—");
    expect(formatMoment("2026-01-01T10:00:00Z")).toBe(new Date("2026-01-01T10:00:00Z").toLocaleString());
    expect(formatMoment("not a time")).toBe("not a time");
  });

  it("measures between two times", () => {
    expect(between("2026-01-01T10:00:00Z", "2026-01-01T10:00:02.5Z")).toBe(2500);
    expect(between(null, "2026-01-01T10:00:00Z")).toBeNull();
  });

  it("maps run statuses", () => {
    expect(runStatusOf("COMPLETED")).toBe("completed");
    expect(runStatusOf("PENDING")).toBe("running");
    expect(runStatusOf("WAITING")).toBe("waiting");
    expect(isFinished("FAILED")).toBe(true);
    expect(isFinished("RUNNING")).toBe(false);
    expect(isFinished(undefined)).toBe(false);
  });
});

describe("triggerOf", () => {
  it("names a retry, a sub-workflow, a trigger node or a person", () => {
    expect(triggerOf({ retryOf: "r1", parentId: null, triggerNode: "hook" })).toBe("retry / re-run");
    expect(triggerOf({ retryOf: null, parentId: "p1", triggerNode: null })).toBe("sub-workflow");
    expect(triggerOf({ retryOf: null, parentId: null, triggerNode: "hook" })).toBe("hook");
    expect(triggerOf({ retryOf: null, parentId: null, triggerNode: null })).toBe("manual");
  });
});
