// Try a cron expression: the words for it and the next ticks the server's scheduler would
// fire, or the server's reason it is not valid.
import { useState } from "react";
import { get } from "../../api/client";
import { ErrorBox } from "../../ui/ErrorBox";
import { useLoad } from "../../ui/useLoad";
import { localZone } from "../common/format";
import { useDebounced } from "../workflows/useDebounced";
import { describeCron } from "./cron";
import { NextTimes } from "./ScheduleCard";
import type { SchedulePreview } from "./types";

export function CronPreview() {
  const [cron, setCron] = useState("0 9 * * MON-FRI");
  const [timezone, setTimezone] = useState(localZone());
  const asked = {
    cron: useDebounced(cron.trim(), 400),
    timezone: useDebounced(timezone.trim(), 400),
  };
  const previewed = useLoad(
    () =>
      asked.cron
        ? get<SchedulePreview>("/api/v1/schedules/preview", {
            cron: asked.cron,
            timezone: asked.timezone || "UTC",
            count: 5,
          })
        : Promise.resolve(null),
    [asked.cron, asked.timezone],
  );
  const error = previewed.error;
  const preview = error ? null : (previewed.data ?? null);

  const words = describeCron(cron);
  return (
    <section className="panel trigger-card cron-preview" aria-labelledby="cron-preview-title">
      <h3 id="cron-preview-title">Cron preview</h3>
      <div className="toolbar">
        <label className="field grow">
          <span>Cron expression</span>
          <input className="mono" value={cron} onChange={(e) => setCron(e.target.value)} spellCheck={false} />
        </label>
        <label className="field">
          <span>Time zone</span>
          <input value={timezone} onChange={(e) => setTimezone(e.target.value)} spellCheck={false} />
        </label>
      </div>
      <p className="hint">
        Five fields (minute hour day month weekday), or six with seconds first.
      </p>
      {cron.trim() && !error && words.text && <p className="cron-words">{words.text}</p>}
      <ErrorBox error={error} />
      {preview && <NextTimes times={preview.nextTimes} timezone={preview.timezone} />}
    </section>
  );
}
