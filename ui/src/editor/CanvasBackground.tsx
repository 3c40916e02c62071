// The canvas's dotted background, as React Flow's <Background> draws it (dots every 20 units,
// scaled with the zoom), but cheap to pan: the pattern is drawn once per zoom level, on a sheet
// one gap larger than the canvas on each side, and panning only moves that sheet by the pan
// modulo the gap, which the compositor does without redrawing. React Flow's own background
// changes its pattern's offset on every step of a pan, so every pan frame repainted and
// rasterised the whole canvas area.
import { memo, useId, useLayoutEffect, useRef } from "react";
import { useStore, useStoreApi, type ReactFlowState } from "@xyflow/react";

/** Distance between dots, in canvas units (React Flow's default). */
export const DOT_GAP = 20;
/** Diameter of a dot, in canvas units (React Flow's default for dots). */
export const DOT_SIZE = 1;

const zoomOf = (state: ReactFlowState) => state.transform[2];

/** Where the dot sheet goes for a pan of (x, y): the offset modulo the gap, one gap back. */
export function sheetOffset(x: number, y: number, gap: number): [number, number] {
  const mod = (v: number) => ((v % gap) + gap) % gap;
  return [mod(x) - gap, mod(y) - gap];
}

function CanvasBackgroundComponent() {
  const zoom = useStore(zoomOf);
  const store = useStoreApi();
  const sheet = useRef<SVGSVGElement>(null);
  const patternId = `canvas-dots-${useId().replace(/[^A-Za-z0-9_-]/g, "")}`;
  // as React Flow computes them (a zero zoom would make a zero gap)
  const gap = DOT_GAP * zoom || 1;
  const radius = (DOT_SIZE * zoom) / 2;

  useLayoutEffect(() => {
    let last = "";
    const place = (state: ReactFlowState) => {
      const [x, y] = sheetOffset(state.transform[0], state.transform[1], gap);
      const transform = `translate(${x}px, ${y}px)`;
      if (transform === last || !sheet.current) return;
      last = transform;
      sheet.current.style.transform = transform;
    };
    place(store.getState());
    return store.subscribe(place);
  }, [store, gap]);

  return (
    <div className="react-flow__background react-flow__container canvas-background" data-testid="rf__background">
      <svg
        ref={sheet}
        className="canvas-background-sheet"
        aria-hidden="true"
        style={{ width: `calc(100% + ${2 * gap}px)`, height: `calc(100% + ${2 * gap}px)` }}
      >
        <pattern
          id={patternId}
          x="0"
          y="0"
          width={gap}
          height={gap}
          patternUnits="userSpaceOnUse"
          patternTransform={`translate(-${gap / 2},-${gap / 2})`}
        >
          <circle cx={radius} cy={radius} r={radius} className="react-flow__background-pattern dots" />
        </pattern>
        <rect x="0" y="0" width="100%" height="100%" fill={`url(#${patternId})`} />
      </svg>
    </div>
  );
}

export const CanvasBackground = memo(CanvasBackgroundComponent);
