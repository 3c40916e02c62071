import { describe, expect, it } from "vitest";
import type { Field } from "./schemaFields";
import { checkField, checkKey, checkNumber, initialValue, isEmptyValue, parseJson, pruneEmpty, withField } from "./values";

const base = { name: "x", title: "Quality", required: false, nullable: false, hasDefault: false };

describe("empty optional values", () => {
  it("counts absent, null, '', [] and {} as empty, and 0 and false as values", () => {
    for (const v of [undefined, null, "", [], {}]) expect(isEmptyValue(v)).toBe(true);
    for (const v of [0, false, " ", [null], { a: 1 }]) expect(isEmptyValue(v)).toBe(false);
  });

  it("removes a field set to an empty value instead of saving it", () => {
    const params = { url: "https://example.org", text: "hello" };
    expect(withField(params, "text", "")).toEqual({ url: "https://example.org" });
    expect(withField(params, "text", null)).toEqual({ url: "https://example.org" });
    expect(withField(params, "headers", {})).toEqual(params);
    expect(withField(params, "methods", [])).toEqual(params);
    expect(withField(params, "retries", 0)).toEqual({ ...params, retries: 0 });
    expect(withField(params, "follow", false)).toEqual({ ...params, follow: false });
    expect(params).toEqual({ url: "https://example.org", text: "hello" }); // not changed in place
  });

  it("prunes empty values at every depth, keeping list places", () => {
    expect(
      pruneEmpty({ a: "", b: { c: null, d: 1, e: {} }, f: [{ g: "" }, 2], h: [], i: { j: { k: "" } } }),
    ).toEqual({ b: { d: 1 }, f: [{}, 2] });
  });
});

describe("checkField", () => {
  const number: Field = { ...base, kind: "number", integer: true, minimum: 1, maximum: 100 };

  it("names the field in number messages", () => {
    expect(checkField(number, 150)).toBe("Quality must be between 1 and 100.");
    expect(checkField(number, 1.5)).toBe("Quality must be a whole number.");
    expect(checkField(number, 50)).toBeNull();
    expect(checkNumber({ title: "Timeout (seconds)", integer: false, exclusiveMinimum: 0, maximum: 600 }, 0)).toBe(
      "Timeout (seconds) must be more than 0 and at most 600.",
    );
  });

  it("says a required field is missing only once touched", () => {
    const url: Field = { ...base, title: "Url", kind: "string", required: true, multiline: false, minLength: 1 };
    expect(checkField(url, undefined, false)).toBeNull();
    expect(checkField(url, undefined, true)).toBe("Url is required.");
    expect(checkField({ ...url, required: false }, undefined, true)).toBeNull();
  });

  it("checks string length, pattern and date-time", () => {
    const text: Field = { ...base, title: "Secret Env", kind: "string", multiline: false, pattern: "^[A-Z_][A-Z0-9_]{0,127}$", maxLength: 5 };
    expect(checkField(text, "lower")).toBe("Secret Env does not match the pattern ^[A-Z_][A-Z0-9_]{0,127}$.");
    expect(checkField(text, "TOO_LONG")).toBe("Secret Env takes at most 5 characters.");
    expect(checkField(text, "OK")).toBeNull();
    const until: Field = { ...base, title: "Until", kind: "string", multiline: false, format: "date-time" };
    expect(checkField(until, "tomorrow")).toMatch(/^Until is not an ISO 8601 date and time/);
    expect(checkField(until, "2025-01-31T09:00:00Z")).toBeNull();
  });

  it("leaves expressions to the server, whatever the field's type", () => {
    expect(checkField(number, "{{ vars.quality }}")).toBeNull();
    expect(checkField({ ...base, kind: "boolean" }, "{{ trigger.flag }}")).toBeNull();
  });

  it("checks enums, lists and map keys", () => {
    expect(checkField({ ...base, title: "Method", kind: "enum", options: ["GET", "POST"] }, "PUT")).toBe(
      "Method must be one of GET, POST.",
    );
    expect(checkField({ ...base, title: "Conditions", kind: "multiEnum", options: ["a"], minItems: 2 }, ["a"])).toBe(
      "Conditions needs at least 2 items.",
    );
    const headers = { title: "Headers", keyPattern: "^[A-Za-z-]+$" };
    expect(checkKey(headers, "X-Token")).toBeNull();
    expect(checkKey(headers, "bad key")).toBe('The key "bad key" of Headers is not allowed here.');
  });
});

describe("JSON and initial values", () => {
  it("parses JSON or says why not", () => {
    expect(parseJson('{"a": 1}')).toEqual({ ok: true, value: { a: 1 } });
    expect(parseJson("  ")).toEqual({ ok: true, value: undefined });
    const bad = parseJson("{a: 1}");
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.error).toMatch(/^Not valid JSON: /);
  });

  it("starts a new object with its constants and a new value with its default", () => {
    expect(
      initialValue({
        ...base,
        kind: "object",
        fields: [
          { ...base, name: "type", kind: "const", value: "api_key" },
          { ...base, name: "value", kind: "string", multiline: false },
        ],
      }),
    ).toEqual({ type: "api_key" });
    expect(initialValue({ ...base, kind: "number", integer: true, hasDefault: true, default: 85 })).toBe(85);
  });
});
