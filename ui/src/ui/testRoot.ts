// For the DOM tests (not the app): a React root in a fresh <div> for each test of a file,
// unmounted after it.
import { act, type ReactNode } from "react";
import { createRoot, type Root } from "react-dom/client";
import { afterEach, beforeEach } from "vitest";

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

export interface TestRoot {
  /** The current test's <div>, in the document. */
  readonly container: HTMLDivElement;
  render: (node: ReactNode) => void;
}

/** Called at the top of a test file: mounts before each test and unmounts after it. */
export function rootPerTest(): TestRoot {
  let container: HTMLDivElement | undefined;
  let root: Root | undefined;
  beforeEach(() => {
    container = document.createElement("div");
    document.body.append(container);
    root = createRoot(container);
  });
  afterEach(() => {
    act(() => root?.unmount());
    container?.remove();
  });
  return {
    get container() {
      if (!container) throw new Error("no test is running");
      return container;
    },
    render(node) {
      act(() => {
        root?.render(node);
      });
    },
  };
}
