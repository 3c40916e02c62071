// The time-travel scrubber: a slider over the journal's frames (0: before the run started),
// with step, play and jump-to-end buttons. The graph and the node panel show the run as it was
// after the chosen frame.
import { useEffect, useState } from "react";
import type { Frame } from "../api/types";
import { describeFrame, frameTime } from "./frames";
import "./runs.css";

export interface ScrubberProps {
  /** The journal, in seq order. */
  frames: readonly Frame[];
  /** The chosen frame's seq; `end` (its last seq) shows the run as it is now. */
  value: number;
  end: number;
  onChange: (seq: number) => void;
  /** True while the run goes on: the end moves as frames come. */
  live?: boolean;
}

/** A frame's time to the millisecond, in the reader's time zone. */
export function clockTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const time = date.toLocaleTimeString(undefined, { hour12: false });
  return `${time}.${String(date.getMilliseconds()).padStart(3, "0")}`;
}

export function caption(frames: readonly Frame[], value: number, end: number): string {
  const frame = atSeq(frames, value);
  if (!frame) return `${value} / ${end} — before the first frame`;
  return `${value} / ${end} — ${describeFrame(frame)} at ${clockTime(frameTime(frame))}`;
}

function atSeq(frames: readonly Frame[], seq: number): Frame | undefined {
  let found: Frame | undefined;
  for (const frame of frames) {
    if (frame.seq > seq) break;
    found = frame;
  }
  return found;
}

const PLAY_STEP_MS = 450;

export function Scrubber({ frames, value, end, onChange, live = false }: ScrubberProps) {
  const [playing, setPlaying] = useState(false);

  useEffect(() => {
    if (!playing) return;
    if (value >= end) {
      setPlaying(false);
      return;
    }
    const timer = setTimeout(() => onChange(Math.min(end, value + 1)), PLAY_STEP_MS);
    return () => clearTimeout(timer);
  }, [playing, value, end, onChange]);

  const text = caption(frames, value, end);
  const play = () => {
    if (playing) {
      setPlaying(false);
      return;
    }
    if (value >= end) onChange(0);
    setPlaying(true);
  };

  return (
    <div className="scrubber" role="group" aria-label="Time travel">
      <div className="scrubber-buttons">
        <button
          type="button"
          className="ghost small"
          aria-label="Step back"
          title="Step back (←)"
          disabled={value <= 0}
          onClick={() => {
            setPlaying(false);
            onChange(Math.max(0, value - 1));
          }}
        >
          ‹
        </button>
        <button
          type="button"
          className="ghost small"
          aria-label={playing ? "Pause" : "Play"}
          title={playing ? "Pause" : "Play the run frame by frame"}
          disabled={end === 0}
          onClick={play}
        >
          {playing ? "||" : "▶"}
        </button>
        <button
          type="button"
          className="ghost small"
          aria-label="Step forward"
          title="Step forward (→)"
          disabled={value >= end}
          onClick={() => {
            setPlaying(false);
            onChange(Math.min(end, value + 1));
          }}
        >
          ›
        </button>
        <button
          type="button"
          className="ghost small"
          aria-label="Jump to end"
          title={live ? "Follow the run live" : "Jump to the last frame"}
          disabled={value >= end}
          onClick={() => {
            setPlaying(false);
            onChange(end);
          }}
        >
          ⇥
        </button>
      </div>
      <input
        type="range"
        className="scrubber-range"
        aria-label="Time travel: frame"
        aria-valuetext={text}
        min={0}
        max={end}
        step={1}
        value={value}
        onChange={(e) => {
          setPlaying(false);
          onChange(Number(e.target.value));
        }}
      />
      <output className="scrubber-caption mono" aria-live="polite">
        {text}
        {live && value >= end && <span className="badge running live-badge">live</span>}
      </output>
    </div>
  );
}
