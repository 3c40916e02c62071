import { describe, expect, it } from "vitest";
import { describeCron } from "./triggers/cron";

describe("describeCron", () => {
  it("reads five fields as minute hour day month weekday", () => {
    expect(describeCron("0 9 * * MON-FRI").text).toBe("At 09:00, Monday through Friday");
    expect(describeCron("*/5 * * * *").text).toBe("Every 5 minutes");
  });

  it("reads six fields with seconds first, as the server does", () => {
    expect(describeCron("*/10 * * * * *").text).toBe("Every 10 seconds");
    expect(describeCron("30 0 9 * * *").text).toBe("At 09:00:30");
    // cronstrue alone would read this as minute-first with a year
    expect(describeCron("0 0 12 ? * 1").text).toBe("At 12:00, only on Monday");
  });

  it("tolerates extra spaces", () => {
    expect(describeCron("  0   9 * *   *  ").text).toBe("At 09:00");
  });

  it("names the problem of a wrong expression", () => {
    expect(describeCron("* * *").error).toMatch(/3 field/);
    expect(describeCron("* * * * * * *").error).toMatch(/7 field/);
    expect(describeCron("99 * * * *").error).toBeTruthy();
  });
});
