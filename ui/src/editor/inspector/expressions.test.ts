import { describe, expect, it } from "vitest";
import {
  accessor,
  applyCompletion,
  expressionAt,
  fromExpressionText,
  nameAtCaret,
  splitPath,
  toExpressionText,
} from "./expressions";

/** The text with "|" marking the caret, as [text, caret]. */
function at(marked: string): [string, number] {
  const caret = marked.indexOf("|");
  return [marked.slice(0, caret) + marked.slice(caret + 1), caret];
}

describe("expressionAt", () => {
  it("finds the {{ }} the caret is in", () => {
    expect(expressionAt(...at("Hello {{ tri|gger.name }}!"))).toEqual({ start: 8, end: 22, closed: true });
    expect(expressionAt(...at("{{| }}"))).toEqual({ start: 2, end: 3, closed: true });
    expect(expressionAt(...at("{{ a }} and {{ b| }}"))).toMatchObject({ start: 14 });
  });

  it("answers null outside any expression", () => {
    expect(expressionAt(...at("Hel|lo {{ name }}"))).toBeNull();
    expect(expressionAt(...at("{{ a }} a|nd {{ b }}"))).toBeNull();
    expect(expressionAt(...at("{|{ a }}"))).toBeNull();
    expect(expressionAt(...at("{{ a }}|"))).toBeNull();
  });

  it("treats an unclosed {{ as open to the end, and skips }} inside string literals", () => {
    expect(expressionAt(...at("x {{ trigger.|"))).toEqual({ start: 4, end: 13, closed: false });
    expect(expressionAt(...at('{{ "}}" ~ inp|ut }}'))).toMatchObject({ start: 2, closed: true });
  });
});

describe("nameAtCaret", () => {
  it("reads the dotted path before the caret", () => {
    expect(nameAtCaret(...at("{{ nodes.fetch.output.bo| }}"))).toEqual({
      parent: ["nodes", "fetch", "output"],
      partial: "bo",
      from: 22,
      to: 24,
      atStart: false,
    });
  });

  it("reads a root name, and an empty expression as its start", () => {
    expect(nameAtCaret(...at("{{ tri| }}"))).toMatchObject({ parent: [], partial: "tri" });
    expect(nameAtCaret(...at("{{ | }}"))).toMatchObject({ parent: [], partial: "", atStart: true });
    expect(nameAtCaret(...at("{{ trigger.amount > vars.| }}"))).toMatchObject({ parent: ["vars"], partial: "" });
  });

  it("reads subscripts", () => {
    expect(nameAtCaret(...at('{{ nodes["my-node"].output.items[0].na| }}'))).toMatchObject({
      parent: ["nodes", "my-node", "output", "items", "0"],
      partial: "na",
    });
  });

  it("replaces the rest of the word after the caret too", () => {
    const [text, caret] = at("{{ trigger.am|ount }}");
    expect(nameAtCaret(text, caret)).toMatchObject({ partial: "am", from: 11, to: 17 });
  });

  it("offers nothing in a string literal, after a number or outside {{ }}", () => {
    expect(nameAtCaret(...at("{{ 'trig| }}"))).toBeNull();
    expect(nameAtCaret(...at("{{ 12| }}"))).toBeNull();
    expect(nameAtCaret(...at("trig| {{ x }}"))).toBeNull();
  });
});

describe("applyCompletion", () => {
  it("writes the chosen name over the partial one and puts the caret after it", () => {
    const [text, caret] = at("Hi {{ trigger.na| }}!");
    const where = nameAtCaret(text, caret)!;
    expect(applyCompletion(text, where, "name")).toEqual({ text: "Hi {{ trigger.name }}!", caret: 18 });
  });

  it("writes a key that is not a name as a subscript", () => {
    const [text, caret] = at("{{ nodes.| }}");
    const where = nameAtCaret(text, caret)!;
    expect(applyCompletion(text, where, "my-node")).toEqual({ text: '{{ nodes["my-node"] }}', caret: 19 });
    const [t2, c2] = at("{{ input.items.| }}");
    expect(applyCompletion(t2, nameAtCaret(t2, c2)!, "0").text).toBe("{{ input.items[0] }}");
  });

  it("replaces a whole word when the caret is in its middle", () => {
    const [text, caret] = at("{{ trigger.am|ount }}");
    expect(applyCompletion(text, nameAtCaret(text, caret)!, "amount_eur").text).toBe("{{ trigger.amount_eur }}");
  });

  it("inserts a root name right after {{", () => {
    const [text, caret] = at("{{ | }}");
    expect(applyCompletion(text, nameAtCaret(text, caret)!, "trigger")).toEqual({ text: "{{ trigger }}", caret: 10 });
  });
});

describe("paths and the Expression toggle", () => {
  it("splits and writes paths", () => {
    expect(splitPath(`a.b["c-d"]['e'][3].f`)).toEqual(["a", "b", "c-d", "e", "3", "f"]);
    expect(accessor("name")).toBe(".name");
    expect(accessor("2")).toBe("[2]");
    expect(accessor('x"y')).toBe('["x\\"y"]');
  });

  it("turns a value into expression text and a literal expression back", () => {
    expect(toExpressionText(5)).toBe("{{ 5 }}");
    expect(toExpressionText({ a: [1] })).toBe('{{ {"a":[1]} }}');
    expect(toExpressionText(undefined)).toBe("");
    expect(fromExpressionText("{{ 5 }}")).toEqual({ ok: true, value: 5 });
    expect(fromExpressionText(' {{ {"a":[1]} }} ')).toEqual({ ok: true, value: { a: [1] } });
    expect(fromExpressionText("")).toEqual({ ok: true, value: undefined });
    expect(fromExpressionText("{{ trigger.n }}")).toEqual({ ok: false });
    expect(fromExpressionText("{{ 1 }} and {{ 2 }}")).toEqual({ ok: false });
  });
});
