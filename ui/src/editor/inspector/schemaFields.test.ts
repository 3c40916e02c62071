import { describe, expect, it } from "vitest";
import { describeField, describeSchema, resolveRef } from "./schemaFields";
import type { Field, JsonSchema } from "./schemaFields";

// Shapes as the server's /api/v1/node-types gives them (pydantic v2), trimmed.
const BLOB = {
  additionalProperties: false,
  properties: {
    blob: { description: "sha256 of the content", pattern: "^[0-9a-f]{64}$", title: "Blob", type: "string" },
    media_type: { default: "application/octet-stream", maxLength: 200, title: "Media Type", type: "string" },
    size: { description: "Bytes", minimum: 0, title: "Size", type: "integer" },
    name: { anyOf: [{ maxLength: 500, type: "string" }, { type: "null" }], default: null, title: "Name" },
  },
  required: ["blob", "size"],
  title: "Blob",
  type: "object",
};

const HTTP_REQUEST: JsonSchema = {
  $defs: {
    Blob: BLOB,
    MultipartPart: {
      additionalProperties: false,
      properties: {
        name: { description: "The form field name", maxLength: 1000, minLength: 1, title: "Name", type: "string" },
        file: { anyOf: [{ $ref: "#/$defs/Blob" }, { type: "null" }], default: null, description: "A file to upload" },
      },
      required: ["name"],
      title: "MultipartPart",
      type: "object",
    },
  },
  additionalProperties: false,
  properties: {
    method: {
      default: "GET",
      description: "The HTTP method",
      enum: ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
      title: "Method",
      type: "string",
    },
    url: { description: "An http:// or https:// URL", maxLength: 8192, minLength: 1, title: "Url", type: "string" },
    headers: {
      description: "Request headers",
      maxProperties: 100,
      patternProperties: { "^[!#$%&'*+\\-.^_`|~0-9A-Za-z]{1,256}$": { type: "string" } },
      title: "Headers",
      type: "object",
    },
    query: {
      additionalProperties: {
        anyOf: [
          { type: "string" },
          { type: "integer" },
          { items: { anyOf: [{ type: "string" }, { type: "integer" }] }, maxItems: 1000, type: "array" },
        ],
      },
      maxProperties: 1000,
      propertyNames: { maxLength: 1000, minLength: 1 },
      title: "Query",
      type: "object",
    },
    json: { default: null, description: "A JSON body", title: "Json" },
    multipart: {
      anyOf: [{ items: { $ref: "#/$defs/MultipartPart" }, maxItems: 100, type: "array" }, { type: "null" }],
      default: null,
      title: "Multipart",
    },
    blob: { anyOf: [{ $ref: "#/$defs/Blob" }, { type: "null" }], default: null, description: "A raw binary body" },
    timeout_s: { default: 30, exclusiveMinimum: 0, maximum: 600, title: "Timeout S", type: "number" },
    follow_redirects: { default: true, title: "Follow Redirects", type: "boolean" },
  },
  required: ["url"],
  title: "RequestParams",
  type: "object",
};

function byName(fields: Field[], name: string): Field {
  const field = fields.find((f) => f.name === name);
  if (!field) throw new Error(`no field ${name}`);
  return field;
}

describe("describeSchema", () => {
  const fields = describeSchema(HTTP_REQUEST);

  it("gives one field per property, in order", () => {
    expect(fields.map((f) => f.name)).toEqual([
      "method",
      "url",
      "headers",
      "query",
      "json",
      "multipart",
      "blob",
      "timeout_s",
      "follow_redirects",
    ]);
  });

  it("makes an enum a choice with its default", () => {
    expect(byName(fields, "method")).toMatchObject({
      kind: "enum",
      title: "Method",
      options: ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
      hasDefault: true,
      default: "GET",
      required: false,
    });
  });

  it("keeps a string's bounds and whether it is required", () => {
    expect(byName(fields, "url")).toMatchObject({
      kind: "string",
      title: "Url",
      description: "An http:// or https:// URL",
      required: true,
      minLength: 1,
      maxLength: 8192,
      multiline: false,
    });
  });

  it("makes patternProperties a key/value editor with the key rule", () => {
    const headers = byName(fields, "headers");
    expect(headers).toMatchObject({ kind: "map", maxProperties: 100 });
    if (headers.kind !== "map") throw new Error();
    expect(headers.keyPattern).toBe("^[!#$%&'*+\\-.^_`|~0-9A-Za-z]{1,256}$");
    expect(headers.value.kind).toBe("string");
  });

  it("makes additionalProperties a key/value editor whose values follow its schema", () => {
    const query = byName(fields, "query");
    if (query.kind !== "map") throw new Error(`query is ${query.kind}`);
    expect(query.keyMaxLength).toBe(1000);
    expect(query.keyMinLength).toBe(1);
    expect(query.value).toMatchObject({ kind: "any", types: ["string", "integer", "array"] });
  });

  it("makes a property without a type a free value", () => {
    expect(byName(fields, "json")).toMatchObject({ kind: "any", types: [], title: "Json" });
  });

  it("unwraps anyOf [X, null] as an optional X and follows $ref into $defs", () => {
    const multipart = byName(fields, "multipart");
    expect(multipart).toMatchObject({ kind: "list", nullable: true, maxItems: 100 });
    if (multipart.kind !== "list") throw new Error();
    const item = multipart.item;
    expect(item).toMatchObject({ kind: "object", title: "MultipartPart" });
    if (item.kind !== "object") throw new Error();
    expect(item.fields.map((f) => [f.name, f.kind, f.required])).toEqual([
      ["name", "string", true],
      ["file", "object", false],
    ]);
  });

  it("labels a referenced model by the property's name, not the model's class name", () => {
    const blob = byName(fields, "blob");
    expect(blob).toMatchObject({ kind: "object", title: "blob", nullable: true, description: "A raw binary body" });
    // a file always comes from an earlier node: the field starts as an expression
    expect(blob.preferExpression).toBe(true);
    if (blob.kind !== "object") throw new Error();
    expect(byName(blob.fields, "size")).toMatchObject({ kind: "number", integer: true, minimum: 0, required: true });
    expect(byName(blob.fields, "name")).toMatchObject({ kind: "string", nullable: true, maxLength: 500 });
  });

  it("keeps numbers' exclusive bounds and booleans' defaults", () => {
    expect(byName(fields, "timeout_s")).toMatchObject({
      kind: "number",
      integer: false,
      exclusiveMinimum: 0,
      maximum: 600,
      default: 30,
    });
    expect(byName(fields, "follow_redirects")).toMatchObject({ kind: "boolean", default: true });
  });

  it("gives no fields for no schema or a schema without properties", () => {
    expect(describeSchema(null)).toEqual([]);
    expect(describeSchema({ type: "object", properties: {} })).toEqual([]);
  });
});

describe("describeField", () => {
  const field = (schema: JsonSchema, root: JsonSchema = {}) => describeField(root, "x", schema, false);

  it("makes an array of enum values a group of choices", () => {
    expect(
      field({ items: { enum: ["HS256", "RS256"], type: "string" }, minItems: 1, maxItems: 6, type: "array", title: "Algorithms" }),
    ).toMatchObject({ kind: "multiEnum", options: ["HS256", "RS256"], minItems: 1, maxItems: 6, title: "Algorithms" });
  });

  it("makes an integer enum a choice of numbers", () => {
    expect(field({ enum: [2048, 3072, 4096], type: "integer", default: 3072 })).toMatchObject({
      kind: "enum",
      options: [2048, 3072, 4096],
    });
  });

  it("makes an optional enum a nullable choice", () => {
    expect(field({ anyOf: [{ enum: ["png", "jpeg"], type: "string" }, { type: "null" }], default: null })).toMatchObject({
      kind: "enum",
      nullable: true,
      options: ["png", "jpeg"],
    });
  });

  it("makes a list of strings a list of text fields", () => {
    const list = field({ items: { type: "string" }, maxItems: 20, type: "array" });
    expect(list).toMatchObject({ kind: "list", maxItems: 20, item: { kind: "string", required: true } });
  });

  it("makes a list of anything a JSON field that starts as an expression", () => {
    expect(field({ anyOf: [{ items: {}, type: "array" }, { type: "null" }] })).toMatchObject({
      kind: "json",
      nullable: true,
      preferExpression: true,
    });
  });

  it("falls back to JSON for what the form cannot express", () => {
    expect(field({ items: { items: { type: "number" }, type: "array" }, type: "array" }).kind).toBe("json");
    expect(field({ prefixItems: [{ type: "number" }, { type: "number" }], type: "array" }).kind).toBe("json");
    expect(field({ allOf: [{ type: "string" }] }).kind).toBe("json");
    expect(field({ $ref: "#/$defs/Missing" }).kind).toBe("json");
    expect(field({ $ref: "https://example.org/schema" }).kind).toBe("json");
  });

  it("keeps a union of simple types as a free value with its types", () => {
    expect(
      field({
        anyOf: [
          { maxLength: 1000, minLength: 1, type: "string" },
          { items: { type: "string" }, type: "array" },
          { type: "null" },
        ],
      }),
    ).toMatchObject({ kind: "any", nullable: true, types: ["string", "array"] });
  });

  it("reads a const as a fixed value", () => {
    expect(field({ const: "api_key", type: "string" })).toMatchObject({ kind: "const", value: "api_key" });
  });

  it("reads format, pattern and long strings", () => {
    expect(field({ anyOf: [{ format: "date-time", type: "string" }, { type: "null" }] })).toMatchObject({
      kind: "string",
      format: "date-time",
      nullable: true,
    });
    expect(field({ pattern: "^[A-Z_]+$", type: "string" })).toMatchObject({ pattern: "^[A-Z_]+$" });
    expect(field({ maxLength: 100_000, type: "string" })).toMatchObject({ multiline: true });
    expect(describeField({}, "code", { type: "string" }, true)).toMatchObject({ multiline: true });
  });

  it("stops at a recursive $ref instead of looping", () => {
    const root: JsonSchema = {
      $defs: {
        Tree: {
          type: "object",
          title: "Tree",
          properties: { label: { type: "string" }, children: { type: "array", items: { $ref: "#/$defs/Tree" } } },
        },
      },
    };
    const tree = describeField(root, "tree", { $ref: "#/$defs/Tree" }, true);
    expect(tree.kind).toBe("object");
    let depth = 0;
    let current: Field | undefined = tree;
    while (current && current.kind === "object") {
      const children: Field | undefined = current.fields.find((f) => f.name === "children");
      current = children && children.kind === "list" ? children.item : children;
      depth++;
    }
    expect(depth).toBeGreaterThan(1);
    expect(current?.kind).toBe("json");
  });

  it("resolves $ref with sibling keywords winning", () => {
    const root: JsonSchema = { $defs: { A: { type: "string", description: "inner" } } };
    expect(resolveRef(root, { $ref: "#/$defs/A", description: "outer" })).toEqual({
      type: "string",
      description: "outer",
    });
  });
});
