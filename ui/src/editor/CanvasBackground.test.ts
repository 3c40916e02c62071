import { describe, expect, it } from "vitest";
import { sheetOffset } from "./CanvasBackground";

describe("sheetOffset", () => {
  it("moves the dot sheet by the pan modulo the gap, one gap back, so it always covers the canvas", () => {
    for (const [x, y] of [[0, 0], [7, 33], [-7, -33], [123.5, -0.25], [-4000, 4000]] as const) {
      const [dx, dy] = sheetOffset(x, y, 20);
      expect(dx).toBeGreaterThanOrEqual(-20);
      expect(dx).toBeLessThan(0);
      expect(dy).toBeGreaterThanOrEqual(-20);
      expect(dy).toBeLessThan(0);
      // the dots land where React Flow's pattern (offset x % gap) puts them
      expect((((dx - x) % 20) + 20) % 20).toBeCloseTo(0);
      expect((((dy - y) % 20) + 20) % 20).toBeCloseTo(0);
    }
  });
});
