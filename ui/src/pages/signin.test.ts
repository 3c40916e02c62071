import { describe, expect, it } from "vitest";
import { ApiError } from "../api/client";
import { PublicApiError } from "./common/publicApi";
import { signInProblem, waitPhrase } from "./signin/messages";
import { toHexUtf8 } from "./signin/wallet";

describe("signInProblem", () => {
  it("says a wrong password plainly", () => {
    const error = new PublicApiError(401, "UNAUTHORIZED", "wrong e-mail address or password", [], null);
    expect(signInProblem(error, "password")).toBe("Wrong e-mail address or password.");
    expect(signInProblem(error, "apiKey")).toMatch(/API key is not valid/);
    expect(signInProblem(error, "invite")).toMatch(/unknown, already used or expired/);
  });

  it("says how long a locked account waits", () => {
    const locked = new PublicApiError(429, "ACCOUNT_LOCKED", "too many failed sign-ins", [], 840);
    expect(signInProblem(locked, "password")).toBe(
      "This account is locked after too many wrong passwords: try again in 14 minutes.",
    );
    const limited = new PublicApiError(429, "RATE_LIMITED", "slow down", [], 30);
    expect(signInProblem(limited, "password")).toBe(
      "Too many sign-in attempts from this address: try again in 30 seconds.",
    );
    expect(signInProblem(new ApiError(429, "RATE_LIMITED", "slow down"), "apiKey")).toMatch(/try again later/);
  });

  it("leaves validation errors to the box that lists their fields", () => {
    const invalid = new ApiError(422, "VALIDATION_ERROR", "invalid", [{ field: "body.password", message: "too short" }]);
    expect(signInProblem(invalid, "invite")).toBeNull();
  });

  it("shows other errors' messages", () => {
    expect(signInProblem(new TypeError("Failed to fetch"), "password")).toBe("Failed to fetch");
    expect(signInProblem(new ApiError(503, "UNAVAILABLE", "busy"), "password")).toMatch(/server failed \(503\)/);
  });
});

describe("waitPhrase", () => {
  it("rounds to a readable unit", () => {
    expect(waitPhrase(1)).toBe("in 1 second");
    expect(waitPhrase(45)).toBe("in 45 seconds");
    expect(waitPhrase(900)).toBe("in 15 minutes");
    expect(waitPhrase(7200)).toBe("in 2 hours");
  });
});

describe("toHexUtf8", () => {
  it("encodes the message for personal_sign", () => {
    expect(toHexUtf8("hi")).toBe("0x6869");
    expect(toHexUtf8("é")).toBe("0xc3a9");
  });
});
