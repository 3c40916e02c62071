// A cron expression in words, read as the server reads it: five fields, or six with seconds
// first (croniter's second_at_beginning).
import cronstrue from "cronstrue";

export type CronDescription = { text: string; error?: undefined } | { text?: undefined; error: string };

export function describeCron(cron: string): CronDescription {
  const fields = cron.trim().split(/\s+/).filter(Boolean);
  if (fields.length !== 5 && fields.length !== 6) {
    return { error: `${fields.length} field(s): give five (minute hour day month weekday), or six with seconds first` };
  }
  // cronstrue guesses whether a sixth field is seconds or a year; a seventh (year "*")
  // makes it read the first as seconds, as the server does.
  const expression = fields.length === 6 ? `${fields.join(" ")} *` : fields.join(" ");
  try {
    const text = cronstrue.toString(expression, {
      throwExceptionOnParseError: true,
      use24HourTimeFormat: true,
      verbose: false,
    });
    return { text };
  } catch (error) {
    return { error: typeof error === "string" ? error : error instanceof Error ? error.message : String(error) };
  }
}

/** What a schedule does with ticks missed while no server ran. */
export const MISSED_POLICY: Record<string, string> = {
  skip: "Ticks missed while no server ran are skipped.",
  run_once: "Ticks missed while no server ran start one run for all of them.",
  run_all: "Each tick missed while no server ran starts a run (at most 100).",
};
