// Dates as the user reads them: in their own time zone, or in a schedule's.

export function formatWhen(iso: string | null | undefined): string {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** A moment in the given IANA time zone, with the zone's short name. */
export function formatInZone(iso: string, timeZone: string): string {
  const date = new Date(iso);
  try {
    return date.toLocaleString(undefined, {
      dateStyle: "medium",
      timeStyle: "long",
      timeZone,
    });
  } catch {
    // a zone this browser does not know: show UTC rather than nothing
    return `${date.toISOString().replace("T", " ").slice(0, 19)} UTC`;
  }
}

export function localZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}
