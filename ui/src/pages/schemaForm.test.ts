import { describe, expect, it } from "vitest";
import {
  buildData,
  dataField,
  formOf,
  initialValues,
  isSecretName,
  type JsonSchema,
} from "./credentials/schemaForm";

// The HTTP connector's credential schema, as pydantic writes it (a discriminated union).
const HTTP: JsonSchema = {
  "$defs": {
    "ApiKeyCredential": {
      "additionalProperties": false,
      "description": "An API key sent in a header of its own.",
      "properties": {
        "type": {
          "const": "api_key",
          "description": "An API key in a header",
          "title": "Type",
          "type": "string"
        },
        "header": {
          "default": "X-API-Key",
          "description": "The name of the header holding the key",
          "pattern": "^[!#$%&'*+\\-.^_`|~0-9A-Za-z]{1,256}$",
          "title": "Header",
          "type": "string"
        },
        "value": {
          "description": "The key",
          "format": "password",
          "maxLength": 100000,
          "minLength": 1,
          "title": "Value",
          "type": "string",
          "writeOnly": true
        }
      },
      "required": [
        "type",
        "value"
      ],
      "title": "ApiKeyCredential",
      "type": "object"
    },
    "BasicCredential": {
      "additionalProperties": false,
      "description": "HTTP Basic authentication.",
      "properties": {
        "type": {
          "const": "basic",
          "description": "HTTP Basic authentication",
          "title": "Type",
          "type": "string"
        },
        "username": {
          "description": "The user name",
          "maxLength": 1000,
          "title": "Username",
          "type": "string"
        },
        "password": {
          "description": "The password",
          "format": "password",
          "maxLength": 10000,
          "title": "Password",
          "type": "string",
          "writeOnly": true
        }
      },
      "required": [
        "type",
        "username",
        "password"
      ],
      "title": "BasicCredential",
      "type": "object"
    },
    "BearerCredential": {
      "additionalProperties": false,
      "description": "A bearer token sent as ``Authorization: Bearer <token>``.",
      "properties": {
        "type": {
          "const": "bearer",
          "description": "A bearer token",
          "title": "Type",
          "type": "string"
        },
        "token": {
          "description": "The token",
          "format": "password",
          "maxLength": 100000,
          "minLength": 1,
          "title": "Token",
          "type": "string",
          "writeOnly": true
        }
      },
      "required": [
        "type",
        "token"
      ],
      "title": "BearerCredential",
      "type": "object"
    },
    "OAuth2ClientCredentials": {
      "additionalProperties": false,
      "description": "OAuth2 client credentials: a token fetched from ``token_url`` and reused until expiry.",
      "properties": {
        "type": {
          "const": "oauth2_client_credentials",
          "description": "OAuth2 client credentials grant",
          "title": "Type",
          "type": "string"
        },
        "token_url": {
          "description": "The token endpoint",
          "maxLength": 8192,
          "minLength": 1,
          "title": "Token Url",
          "type": "string"
        },
        "client_id": {
          "description": "The client id",
          "maxLength": 1000,
          "minLength": 1,
          "title": "Client Id",
          "type": "string"
        },
        "client_secret": {
          "description": "The client secret",
          "format": "password",
          "maxLength": 10000,
          "title": "Client Secret",
          "type": "string",
          "writeOnly": true
        },
        "scope": {
          "anyOf": [
            {
              "maxLength": 10000,
              "type": "string"
            },
            {
              "type": "null"
            }
          ],
          "default": null,
          "description": "Space-separated scopes",
          "title": "Scope"
        },
        "client_auth": {
          "default": "basic",
          "description": "Send the client id and secret as HTTP Basic (basic) or in the form (body)",
          "enum": [
            "basic",
            "body"
          ],
          "title": "Client Auth",
          "type": "string"
        }
      },
      "required": [
        "type",
        "token_url",
        "client_id",
        "client_secret"
      ],
      "title": "OAuth2ClientCredentials",
      "type": "object"
    }
  },
  "description": "The credential of the HTTP connector, told apart by ``type``: basic, bearer, api_key\nor oauth2_client_credentials.",
  "discriminator": {
    "mapping": {
      "api_key": "#/$defs/ApiKeyCredential",
      "basic": "#/$defs/BasicCredential",
      "bearer": "#/$defs/BearerCredential",
      "oauth2_client_credentials": "#/$defs/OAuth2ClientCredentials"
    },
    "propertyName": "type"
  },
  "oneOf": [
    {
      "$ref": "#/$defs/BasicCredential"
    },
    {
      "$ref": "#/$defs/BearerCredential"
    },
    {
      "$ref": "#/$defs/ApiKeyCredential"
    },
    {
      "$ref": "#/$defs/OAuth2ClientCredentials"
    }
  ],
  "title": "HttpCredential"
};

describe("formOf", () => {
  it("offers the variants of a discriminated union, with their fields", () => {
    const form = formOf(HTTP);
    if (form.kind !== "variants") throw new Error(form.kind);
    expect(form.discriminator).toBe("type");
    expect(form.variants.map((v) => v.value)).toEqual([
      "basic",
      "bearer",
      "api_key",
      "oauth2_client_credentials",
    ]);
    const basic = form.variants[0]!;
    expect(basic.label).toBe("HTTP Basic authentication");
    expect(basic.fields.map((f) => [f.name, f.kind, f.secret, f.required])).toEqual([
      ["username", "text", false, true],
      ["password", "text", true, true],
    ]);
    const oauth = form.variants[3]!;
    const byName = Object.fromEntries(oauth.fields.map((f) => [f.name, f]));
    expect(byName.token_url?.secret).toBe(false);
    expect(byName.client_secret?.secret).toBe(true);
    expect(byName.scope).toMatchObject({ kind: "text", required: false });
    expect(byName.client_auth).toMatchObject({ kind: "choice", options: ["basic", "body"], defaultValue: "basic" });
  });

  it("makes simple objects fields, keeping constants", () => {
    const form = formOf({
      type: "object",
      properties: {
        kind: { const: "x" },
        host: { type: "string", title: "Host" },
        port: { type: "integer", default: 5432 },
        tls: { type: "boolean", default: true },
        apiKey: { type: "string" },
      },
      required: ["host"],
    });
    if (form.kind !== "fields") throw new Error(form.kind);
    expect(form.fixed).toEqual({ kind: "x" });
    expect(form.fields.map((f) => [f.name, f.kind, f.secret, f.required])).toEqual([
      ["host", "text", false, true],
      ["port", "integer", false, false],
      ["tls", "boolean", false, false],
      ["apiKey", "text", true, false],
    ]);
  });

  it("follows $refs as the node inspector does, keeping the keywords beside them", () => {
    const form = formOf({
      type: "object",
      $defs: {
        Mode: { $ref: "#/$defs/Choice" },
        Choice: { type: "string", enum: ["a", "b"], title: "Choice" },
      },
      properties: { mode: { $ref: "#/$defs/Mode", title: "Mode", default: "b" } },
    });
    if (form.kind !== "fields") throw new Error(form.kind);
    expect(form.fields).toEqual([
      expect.objectContaining({ name: "mode", label: "Mode", kind: "choice", options: ["a", "b"], defaultValue: "b" }),
    ]);
  });

  it("falls back to JSON for nested objects and lists", () => {
    expect(formOf({ type: "object", properties: { headers: { type: "object" } } }).kind).toBe("json");
    expect(formOf({ type: "object", properties: { hosts: { type: "array" } } }).kind).toBe("json");
    expect(formOf(null).kind).toBe("json");
  });
});

describe("isSecretName", () => {
  it("knows secret-looking names", () => {
    for (const name of ["password", "client_secret", "access_token", "api_key", "apikey", "private_key", "key"]) {
      expect(isSecretName(name), name).toBe(true);
    }
    for (const name of ["token_url", "username", "client_id", "keyboard", "header"]) {
      expect(isSecretName(name), name).toBe(false);
    }
  });
});

describe("buildData", () => {
  const form = formOf(HTTP);
  const oauth = form.kind === "variants" ? form.variants[3]!.fields : [];

  it("leaves out empty optional fields and requires the others", () => {
    const values = { ...initialValues(oauth), token_url: "https://id.example/token", client_id: "app" };
    expect(buildData(oauth, values, { type: "oauth2_client_credentials" })).toEqual({
      ok: false,
      errors: { client_secret: "required" },
    });
    expect(buildData(oauth, { ...values, client_secret: "s3cret" }, { type: "oauth2_client_credentials" })).toEqual({
      ok: true,
      data: {
        type: "oauth2_client_credentials",
        token_url: "https://id.example/token",
        client_id: "app",
        client_secret: "s3cret",
        client_auth: "basic",
      },
    });
  });

  it("reads numbers and booleans", () => {
    const fields = [
      { name: "port", label: "port", kind: "integer" as const, secret: false, required: true },
      { name: "ratio", label: "ratio", kind: "number" as const, secret: false, required: false },
      { name: "tls", label: "tls", kind: "boolean" as const, secret: false, required: false },
    ];
    expect(buildData(fields, { port: "5432", ratio: "0.5", tls: true })).toEqual({
      ok: true,
      data: { port: 5432, ratio: 0.5, tls: true },
    });
    expect(buildData(fields, { port: "1.5", ratio: "x", tls: false })).toEqual({
      ok: false,
      errors: { port: "not a whole number", ratio: "not a number" },
    });
  });
});

describe("initialValues", () => {
  it("never prefills a secret", () => {
    const fields = [
      { name: "token", label: "t", kind: "text" as const, secret: true, required: true, defaultValue: "x" },
      { name: "header", label: "h", kind: "text" as const, secret: false, required: false, defaultValue: "X-API-Key" },
    ];
    expect(initialValues(fields)).toEqual({ token: "", header: "X-API-Key" });
  });
});

describe("dataField", () => {
  it("finds the field of data a server error names", () => {
    expect(dataField("body.data.password")).toBe("password");
    expect(dataField("data.token")).toBe("token");
    expect(dataField("body.data")).toBeNull();
    expect(dataField("body.connector")).toBeNull();
  });

  it("finds it in the message when the server names only data", () => {
    const message = "does not fit http: api_key.header: String should match pattern '^[a-z]+$'";
    expect(dataField("body.data", message, ["header", "value"])).toBe("header");
    expect(dataField("body.data", "does not fit http: something else", ["header"])).toBeNull();
  });
});
