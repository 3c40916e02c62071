// The run components in a DOM: the live stream hook, the JSON tree, the scrubber and the JSON
// input dialog.
import { act } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { StreamEvent } from "../api/client";
import type { Frame } from "../api/types";
import { rootPerTest } from "../ui/testRoot";
import { JsonInputDialog } from "./JsonInputDialog";
import { parseJson, pretty } from "./jsonInput";
import { JsonTree } from "./JsonTree";
import { caption, Scrubber } from "./Scrubber";
import { mergeFrames, useLiveRun, type LiveRun } from "./useLiveRun";

type Follow = (path: string, onEvent: (e: StreamEvent) => void, signal: AbortSignal) => Promise<void>;
const streams: { path: string; onEvent: (e: StreamEvent) => void; signal: AbortSignal; end: () => void }[] = [];

vi.mock("../api/client", () => ({
  url: (path: string, query: Record<string, unknown>) =>
    `${path}?${new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)]))}`,
  follow: ((path, onEvent, signal) =>
    new Promise<void>((resolve) => {
      streams.push({ path, onEvent, signal, end: resolve });
    })) satisfies Follow,
}));

const dom = rootPerTest();
const render = dom.render;

beforeEach(() => {
  streams.length = 0;
});

afterEach(() => {
  vi.useRealTimers();
});

function frame(seq: number, nodeId: string, status: string, extra: Partial<Frame> = {}): Frame {
  return {
    seq,
    nodeId,
    status,
    attempt: 1,
    item: null,
    port: status === "completed" ? "main" : null,
    input: null,
    output: null,
    error: null,
    startedAt: "2026-01-01T10:00:00Z",
    endedAt: null,
    durationMs: null,
    wakeAt: null,
    ...extra,
  };
}

describe("mergeFrames", () => {
  it("keeps each seq once, in order", () => {
    const merged = mergeFrames([frame(1, "a", "started"), frame(3, "b", "started")], [
      frame(2, "a", "completed"),
      frame(3, "b", "started"),
    ]);
    expect(merged.map((f) => f.seq)).toEqual([1, 2, 3]);
  });
});

describe("useLiveRun", () => {
  let seen: LiveRun | undefined;
  function Probe({ id, initial }: { id: string | null; initial?: Frame[] }) {
    seen = useLiveRun(id, initial);
    return null;
  }

  it("follows after the frames it was given, collects frames and progress, and ends", () => {
    vi.useFakeTimers();
    render(<Probe id="run-1" initial={[frame(1, "start", "started")]} />);
    expect(streams).toHaveLength(1);
    expect(streams[0]!.path).toBe("/api/v1/executions/run-1/stream?after=1");
    expect(seen?.following).toBe(true);
    expect(seen?.status).toBe("RUNNING");

    act(() => {
      streams[0]!.onEvent({ event: "frame", id: "2", data: frame(2, "start", "completed") });
      streams[0]!.onEvent({ event: "frame", id: "3", data: frame(3, "next", "started") });
      streams[0]!.onEvent({
        event: "progress",
        id: undefined,
        data: { nodeId: "next", item: null, done: 2, total: 5, message: "pages" },
      });
      vi.advanceTimersByTime(50);
    });
    expect(seen?.frames.map((f) => f.seq)).toEqual([1, 2, 3]);
    expect(seen?.progress.next).toMatchObject({ done: 2, total: 5 });

    act(() => {
      streams[0]!.onEvent({ event: "frame", id: "4", data: frame(4, "next", "completed") });
      streams[0]!.onEvent({
        event: "end",
        id: undefined,
        data: { id: "run-1", status: "COMPLETED", result: { ok: true } },
      });
    });
    expect(seen?.frames).toHaveLength(4);
    expect(seen?.following).toBe(false);
    expect(seen?.status).toBe("COMPLETED");
    expect(seen?.execution?.result).toEqual({ ok: true });
  });

  it("stops following on unmount and when the id changes", () => {
    render(<Probe id="a" />);
    const first = streams[0]!;
    render(<Probe id="b" />);
    expect(first.signal.aborted).toBe(true);
    expect(streams.at(-1)!.path).toContain("/executions/b/stream");
    render(null);
    expect(streams.at(-1)!.signal.aborted).toBe(true);
  });

  it("follows nothing without an id", () => {
    render(<Probe id={null} />);
    expect(streams).toHaveLength(0);
    expect(seen?.following).toBe(false);
  });
});

describe("JsonTree", () => {
  it("folds and unfolds with buttons that say whether they are open", () => {
    render(<JsonTree value={{ order: { id: 7, lines: [1, 2] }, note: null }} label="result" openDepth={1} />);
    const toggles = () => [...dom.container.querySelectorAll<HTMLButtonElement>("button.json-toggle")];
    expect(toggles().map((b) => b.getAttribute("aria-expanded"))).toEqual(["true", "false"]);
    expect(dom.container.textContent).toContain("2 keys");
    act(() => toggles()[1]!.click());
    expect(toggles()[1]!.getAttribute("aria-expanded")).toBe("true");
    expect(dom.container.textContent).toContain("id: 7");
    act(() => toggles()[0]!.click());
    expect(dom.container.textContent).not.toContain("id: 7");
  });

  it("cuts long strings with show more", () => {
    const long = "x".repeat(500);
    render(<JsonTree value={{ text: long }} label="output" />);
    expect(dom.container.textContent).not.toContain(long);
    const more = dom.container.querySelector<HTMLButtonElement>('button[aria-label="Show more of text"]');
    expect(more).not.toBeNull();
    act(() => more!.click());
    expect(dom.container.textContent).toContain(long);
  });

  it("copies the value as JSON", async () => {
    const writeText = vi.fn(() => Promise.resolve());
    Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
    render(<JsonTree value={{ a: 1 }} label="input of check" />);
    const copy = dom.container.querySelector<HTMLButtonElement>('button[aria-label="Copy input of check as JSON"]');
    await act(async () => copy!.click());
    expect(writeText).toHaveBeenCalledWith('{\n  "a": 1\n}');
    expect(copy!.textContent).toBe("Copied");
  });
});

describe("Scrubber", () => {
  const frames = [frame(1, "start", "started"), frame(2, "start", "completed"), frame(3, "check", "started")];

  it("captions the frame shown", () => {
    expect(caption(frames, 0, 3)).toBe("0 / 3 — before the first frame");
    expect(caption(frames, 2, 3)).toMatch(/^2 \/ 3 — start completed at \d\d:\d\d:\d\d\.000$/);
  });

  it("steps back, forward and to the end", () => {
    const onChange = vi.fn();
    render(<Scrubber frames={frames} value={1} end={3} onChange={onChange} />);
    const button = (name: string) =>
      dom.container.querySelector<HTMLButtonElement>(`button[aria-label="${name}"]`)!;
    act(() => button("Step back").click());
    act(() => button("Step forward").click());
    act(() => button("Jump to end").click());
    expect(onChange.mock.calls.map((c) => c[0])).toEqual([0, 2, 3]);
    const range = dom.container.querySelector<HTMLInputElement>('input[aria-label="Time travel: frame"]')!;
    expect(range.max).toBe("3");
    expect(range.getAttribute("aria-valuetext")).toContain("1 / 3 — start started");
  });

  it("plays frame by frame", () => {
    vi.useFakeTimers();
    let value = 0;
    const onChange = (seq: number) => {
      value = seq;
      render(<Scrubber frames={frames} value={value} end={3} onChange={onChange} />);
    };
    render(<Scrubber frames={frames} value={value} end={3} onChange={onChange} />);
    act(() => dom.container.querySelector<HTMLButtonElement>('button[aria-label="Play"]')!.click());
    for (let i = 0; i < 5; i++) act(() => vi.advanceTimersByTime(500));
    expect(value).toBe(3);
    expect(dom.container.querySelector('button[aria-label="Play"]')).not.toBeNull();
  });
});

describe("jsonInput", () => {
  it("parses, and says why not", () => {
    expect(parseJson('{"a": 1}')).toEqual({ ok: true, value: { a: 1 } });
    expect(parseJson("  ")).toEqual({ ok: true, value: null });
    const bad = parseJson("{");
    expect(bad.ok).toBe(false);
    expect(pretty(undefined)).toBe("null");
  });
});

describe("JsonInputDialog", () => {
  beforeEach(() => {
    // jsdom has no modal dialogs
    HTMLDialogElement.prototype.showModal = function (this: HTMLDialogElement) {
      this.setAttribute("open", "");
    };
    HTMLDialogElement.prototype.close = function (this: HTMLDialogElement) {
      this.removeAttribute("open");
    };
  });

  it("checks the JSON before it starts, and says why not", async () => {
    const onStart = vi.fn(() => Promise.resolve());
    render(
      <JsonInputDialog
        title="Run hello"
        label="Input (JSON)"
        rows={4}
        initial={'{"n": 1}'}
        hint="What the run gets."
        submitLabel="Start run"
        onStart={onStart}
        onClose={() => undefined}
      />,
    );
    const dialog = dom.container.querySelector("dialog")!;
    expect(document.getElementById(dialog.getAttribute("aria-labelledby")!)!.textContent).toBe("Run hello");
    const field = dom.container.querySelector("textarea")!;
    const start = [...dom.container.querySelectorAll("button")].find((b) => b.textContent === "Start run")!;
    const type = (text: string) =>
      act(() => {
        Object.getOwnPropertyDescriptor(HTMLTextAreaElement.prototype, "value")!.set!.call(field, text);
        field.dispatchEvent(new Event("input", { bubbles: true }));
      });

    type("{");
    act(() => start.click());
    expect(onStart).not.toHaveBeenCalled();
    const problem = dom.container.querySelector('[role="alert"]')!;
    expect(problem.textContent).toMatch(/^Not valid JSON/);
    expect(field.getAttribute("aria-invalid")).toBe("true");
    expect(field.getAttribute("aria-describedby")!.split(" ")).toContain(problem.id);

    type('{"n": 2}');
    await act(async () => start.click());
    expect(onStart).toHaveBeenCalledWith({ n: 2 }, '{"n": 2}');
    expect(dom.container.querySelector('[role="alert"]')).toBeNull();
  });
});
