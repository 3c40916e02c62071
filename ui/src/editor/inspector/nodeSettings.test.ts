import { describe, expect, it } from "vitest";
import { CONCURRENCY, RETRY_FIELDS, TIMEOUT, checkNodeId, parseNumber } from "./nodeSettings";
import { checkNumber } from "./values";

describe("checkNodeId", () => {
  const ids = ["start", "fetch", "notify"];

  it("accepts the model's id pattern and the node's own id", () => {
    expect(checkNodeId("fetch_2", "fetch", ids)).toBeNull();
    expect(checkNodeId("_private-step", "fetch", ids)).toBeNull();
    expect(checkNodeId("fetch", "fetch", ids)).toBeNull();
    expect(checkNodeId("a".repeat(128), "fetch", ids)).toBeNull();
  });

  it("refuses a bad pattern, a taken id and an empty one, naming the field", () => {
    expect(checkNodeId("2fetch", "fetch", ids)).toMatch(/^Node id starts with a letter or _/);
    expect(checkNodeId("my node", "fetch", ids)).toMatch(/^Node id starts with a letter or _/);
    expect(checkNodeId("a".repeat(129), "fetch", ids)).toMatch(/at most 128 characters/);
    expect(checkNodeId("notify", "fetch", ids)).toBe('Another node already has the id "notify".');
    expect(checkNodeId("", "fetch", ids)).toBe("Node id is required.");
  });
});

describe("settings bounds", () => {
  it("are the model's, with messages naming the field", () => {
    expect(checkNumber(RETRY_FIELDS.max_attempts, 0)).toBe("Max attempts must be between 1 and 100.");
    expect(checkNumber(RETRY_FIELDS.max_attempts, 2.5)).toBe("Max attempts must be a whole number.");
    expect(checkNumber(RETRY_FIELDS.jitter, 1.5)).toBe("Jitter must be between 0 and 1.");
    expect(checkNumber(RETRY_FIELDS.multiplier, 0.5)).toBe("Multiplier must be between 1 and 100.");
    expect(checkNumber(RETRY_FIELDS.max_s, 86_401)).toBe("Max delay (seconds) must be between 0 and 86400.");
    expect(checkNumber(TIMEOUT, 0)).toBe("Timeout (seconds) must be more than 0 and at most 2678400.");
    expect(checkNumber(TIMEOUT, 0.5)).toBeNull();
    expect(checkNumber(CONCURRENCY, 1001)).toBe("Concurrency must be between 1 and 1000.");
  });

  it("reads typed numbers", () => {
    expect(parseNumber(" 2.5 ")).toEqual({ empty: false, value: 2.5 });
    expect(parseNumber("")).toEqual({ empty: true });
    expect(parseNumber("abc")).toBeNull();
  });
});
