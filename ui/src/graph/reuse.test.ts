import { examples, TYPES } from "./testFixtures";
import { describe, expect, it } from "vitest";
import type { Workflow } from "../api/types";
import { toFlow } from "./convert";
import { reuseUnchanged } from "./reuse";


describe("reuseUnchanged", () => {
  const wf = examples().find(([f]) => f === "order-alert.yaml")![1];

  it("keeps every node and the array itself when the workflow is converted again unchanged", () => {
    const first = toFlow(wf, TYPES);
    const again = toFlow(wf, TYPES);
    expect(again.nodes[0]).not.toBe(first.nodes[0]);
    expect(reuseUnchanged(first.nodes, again.nodes)).toBe(first.nodes);
    expect(reuseUnchanged(first.edges, again.edges)).toBe(first.edges);
  });

  it("replaces only what changed: a moved node, a selection, a run status", () => {
    const first = toFlow(wf, TYPES).nodes;
    const moved: Workflow = {
      ...wf,
      nodes: wf.nodes.map((n) => (n.id === "alert" ? { ...n, position: [500, 90] as [number, number] } : n)),
    };
    const next = toFlow(moved, TYPES).nodes.map((n) =>
      n.id === "check" ? { ...n, selected: true } : n.id === "done" ? { ...n, data: { ...n.data, status: "running" as const } } : n,
    );
    const kept = reuseUnchanged(first, next);
    expect(kept).not.toBe(first);
    const changed = kept.filter((n, i) => n !== first[i]).map((n) => n.id);
    expect(changed).toEqual(["check", "alert", "done"]);
    expect(kept.find((n) => n.id === "alert")!.position).toEqual({ x: 500, y: 90 });
  });

  it("sees new ports, problems and edge styles", () => {
    const first = toFlow(wf, TYPES);
    const withProblem = toFlow(wf, TYPES, { pass: ["bad"] });
    expect(reuseUnchanged(first.nodes, withProblem.nodes).filter((n, i) => n !== first.nodes[i])).toHaveLength(1);
    const routed: Workflow = { ...wf, nodes: wf.nodes.map((n) => (n.id === "pass" ? { ...n, on_error: "route" } : n)) };
    const kept = reuseUnchanged(first.nodes, toFlow(routed, TYPES).nodes);
    expect(kept.find((n) => n.id === "pass")!.data.ports).toContain("error");
    const styled = first.edges.map((e, i) => (i === 0 ? { ...e, className: "run-completed" } : e));
    const keptEdges = reuseUnchanged(first.edges, styled);
    expect(keptEdges[0]).toBe(styled[0]);
    expect(keptEdges.slice(1)).toEqual(first.edges.slice(1));
    expect(keptEdges[1]).toBe(first.edges[1]);
  });

  it("follows removals, additions and order", () => {
    const first = toFlow(wf, TYPES).nodes;
    const reversed = [...toFlow(wf, TYPES).nodes].reverse();
    const kept = reuseUnchanged(first, reversed);
    expect(kept).not.toBe(first);
    expect(kept.map((n) => n.id)).toEqual(reversed.map((n) => n.id));
    expect(kept.every((n) => first.includes(n))).toBe(true);
    expect(reuseUnchanged(first, reversed.slice(1)).length).toBe(first.length - 1);
    expect(reuseUnchanged([], reversed)).toBe(reversed);
  });
});

