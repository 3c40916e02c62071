// A schedule trigger: its cron in words, and its next ticks in the user's time and in the
// schedule's own time zone.
import { formatInZone, localZone } from "../common/format";
import { describeCron, MISSED_POLICY } from "./cron";
import type { ScheduleTrigger } from "./types";

export function NextTimes({ times, timezone }: { times: string[]; timezone: string }) {
  const here = localZone();
  const same = here === timezone;
  return (
    <table className="list compact" aria-label="Next runs">
      <thead>
        <tr>
          <th scope="col">Your time ({here})</th>
          {!same && <th scope="col">Schedule time ({timezone})</th>}
        </tr>
      </thead>
      <tbody>
        {times.map((t) => (
          <tr key={t}>
            <td>{formatInZone(t, here)}</td>
            {!same && <td>{formatInZone(t, timezone)}</td>}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function ScheduleCard({ trigger }: { trigger: ScheduleTrigger }) {
  const cron = trigger.cron ?? "";
  const timezone = trigger.timezone ?? "UTC";
  const words = describeCron(cron);
  return (
    <section className="panel trigger-card" aria-label={`Schedule ${cron}`}>
      <header className="trigger-head">
        <span className="badge">schedule</span>
        <strong className="mono">{cron}</strong>
        <span className="muted small">
          {timezone} · node {trigger.nodeId}
        </span>
      </header>
      <p className="cron-words">{words.text ?? words.error}{words.text ? ` (${timezone})` : ""}</p>
      <p className="muted small">{MISSED_POLICY[trigger.missed ?? "run_once"]}</p>
      {!trigger.active && (
        <p className="notice" role="note">
          This workflow is not active: the schedule does not fire until it is activated.
        </p>
      )}
      {trigger.nextTimes && trigger.nextTimes.length > 0 && (
        <NextTimes times={trigger.nextTimes} timezone={timezone} />
      )}
    </section>
  );
}
