// The expression field and the parameter form in a DOM (jsdom): completions by keyboard and
// mouse, the combobox's ARIA state, and empty optional values left out of params.
import { act, useState } from "react";
import { createRoot } from "react-dom/client";
import type { Root } from "react-dom/client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ExpressionField } from "./ExpressionField";
import { ExpressionEnvContext } from "./expressionEnv";
import { SchemaForm } from "./SchemaForm";
import type { JsonSchema } from "./schemaFields";
import { scopeOf } from "./scope";
import type { Params } from "./values";

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const scope = scopeOf({
  workflow: { edges: [{ source: "fetch", target: "notify" }], vars: { threshold: 100 } },
  nodeId: "notify",
  forEach: false,
  lastRun: {
    id: "ex_1",
    input: { amount: 250, customer: "ada" },
    startedAt: "2025-01-01T00:00:00Z",
    frames: [],
  },
});
const env = { scope, nodeId: "notify", executionId: null, item: null };

let container: HTMLDivElement;
let root: Root;

beforeEach(() => {
  container = document.createElement("div");
  document.body.appendChild(container);
  root = createRoot(container);
});

afterEach(() => {
  act(() => root.unmount());
  container.remove();
});

/** Types `text` as the whole value with the caret at its end, as a user's input event would. */
function type(input: HTMLInputElement | HTMLTextAreaElement, text: string) {
  const proto = input instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
  const setter = Object.getOwnPropertyDescriptor(proto, "value")?.set;
  act(() => {
    setter?.call(input, text);
    if (input.type !== "number") input.setSelectionRange(text.length, text.length);
    input.dispatchEvent(new Event("input", { bubbles: true }));
  });
}

function key(target: Element, key: string) {
  act(() => {
    target.dispatchEvent(new KeyboardEvent("keydown", { key, bubbles: true, cancelable: true }));
  });
}

function options(): string[] {
  return [...container.querySelectorAll('[role="option"]')].map((o) => o.querySelector(".expr-option-name")?.textContent ?? "");
}

function Field({ initial = "" }: { initial?: string }) {
  const [value, setValue] = useState(initial);
  return (
    <ExpressionEnvContext.Provider value={env}>
      <label htmlFor="url">Url</label>
      <ExpressionField id="url" value={value} onChange={setValue} />
      <output data-value>{value}</output>
    </ExpressionEnvContext.Provider>
  );
}

describe("ExpressionField", () => {
  it("offers the names in scope inside {{ }} and inserts the chosen one with Enter", () => {
    act(() => root.render(<Field />));
    const input = container.querySelector("input")!;
    expect(input.getAttribute("role")).toBe("combobox");
    expect(input.getAttribute("aria-expanded")).toBe("false");

    type(input, "https://x.org/{{ ");
    expect(input.getAttribute("aria-expanded")).toBe("true");
    expect(options()).toEqual(["trigger…", "input", "nodes…", "vars…", "execution…"]);
    const listbox = container.querySelector('[role="listbox"]')!;
    expect(input.getAttribute("aria-controls")).toBe(listbox.id);
    expect(input.getAttribute("aria-activedescendant")).toBe(`${listbox.id}-0`);

    type(input, "https://x.org/{{ trigger.");
    expect(options()).toEqual(["amount", "customer"]);
    key(input, "ArrowDown");
    expect(input.getAttribute("aria-activedescendant")).toBe(`${listbox.id}-1`);
    expect(container.querySelector('[aria-selected="true"]')?.textContent).toContain("customer");
    key(input, "Enter");
    expect(input.value).toBe("https://x.org/{{ trigger.customer");
    expect(input.getAttribute("aria-expanded")).toBe("false");
  });

  it("completes node ids upstream with Tab, closes with Escape, and accepts a mouse click", () => {
    act(() => root.render(<Field />));
    const input = container.querySelector("input")!;
    type(input, "{{ nodes.");
    expect(options()).toEqual(["fetch…"]);
    key(input, "Tab");
    expect(input.value).toBe("{{ nodes.fetch");

    type(input, "{{ nodes.fetch.o");
    expect(options()).toEqual(["output"]);
    key(input, "Escape");
    expect(input.getAttribute("aria-expanded")).toBe("false");

    type(input, "{{ va");
    const option = container.querySelector('[role="option"]')!;
    act(() => {
      option.dispatchEvent(new MouseEvent("mousedown", { bubbles: true, cancelable: true }));
    });
    expect(input.value).toBe("{{ vars");
  });

  it("offers nothing outside {{ }}", () => {
    act(() => root.render(<Field />));
    const input = container.querySelector("input")!;
    type(input, "trig");
    expect(input.getAttribute("aria-expanded")).toBe("false");
  });

  it("says to run the workflow once when there is no run to preview against", () => {
    act(() => root.render(<Field initial="{{ trigger.amount }}" />));
    expect(container.textContent).toContain("Run the workflow once to preview");
    expect(container.querySelector(".expr-badge")?.textContent).toBe("expression");
  });
});

const SCHEMA: JsonSchema = {
  properties: {
    url: { title: "Url", type: "string", minLength: 1 },
    text: { anyOf: [{ type: "string" }, { type: "null" }], default: null, title: "Text" },
    quality: { title: "Quality", type: "integer", minimum: 1, maximum: 100, default: 85 },
    keep: { title: "Keep Input", type: "boolean", default: false },
  },
  required: ["url"],
  type: "object",
};

function Form({ initial }: { initial: Params }) {
  const [value, setValue] = useState<Params>(initial);
  return (
    <ExpressionEnvContext.Provider value={env}>
      <SchemaForm schema={SCHEMA} value={value} onChange={setValue} idPrefix="p" />
      <pre data-params>{JSON.stringify(value)}</pre>
    </ExpressionEnvContext.Provider>
  );
}

describe("SchemaForm", () => {
  const params = () => JSON.parse(container.querySelector("[data-params]")!.textContent!) as Params;
  const byLabel = (text: string) => {
    const label = [...container.querySelectorAll("label")].find((l) => l.textContent?.replace("*", "").trim() === text);
    return container.querySelector<HTMLInputElement>(`#${label!.htmlFor}`)!;
  };

  it("labels each field by its title and leaves cleared optional fields out", () => {
    act(() => root.render(<Form initial={{ url: "https://a.org", text: "hi" }} />));
    expect(byLabel("Url").value).toBe("https://a.org");
    type(byLabel("Text"), "");
    expect(params()).toEqual({ url: "https://a.org" });
  });

  it("checks numbers against the schema's bounds, naming the field", () => {
    act(() => root.render(<Form initial={{ url: "u" }} />));
    type(byLabel("Quality"), "500");
    expect(params()).toEqual({ url: "u", quality: 500 });
    expect(container.textContent).toContain("Quality must be between 1 and 100.");
    type(byLabel("Quality"), "");
    expect(params()).toEqual({ url: "u" });
  });

  it("switches a number to an expression and back", () => {
    act(() => root.render(<Form initial={{ url: "u", quality: 90 }} />));
    const toggle = byLabel("Quality").closest(".field")!.querySelector<HTMLButtonElement>('button[aria-label="Expression"]')!;
    expect(toggle.getAttribute("aria-pressed")).toBe("false");
    act(() => toggle.click());
    expect(params()).toEqual({ url: "u", quality: "{{ 90 }}" });
    type(byLabel("Quality"), "{{ vars.threshold }}");
    expect(params().quality).toBe("{{ vars.threshold }}");
    type(byLabel("Quality"), "{{ 70 }}");
    act(() => toggle.click());
    expect(params()).toEqual({ url: "u", quality: 70 });
  });
});
