// Hands text to the browser as a file to save.

export function saveFile(text: string, filename: string, type: string): void {
  const blob = new Blob([text], { type });
  const href = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = href;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  // revoked later: some browsers start the download after click() returns
  setTimeout(() => URL.revokeObjectURL(href), 10_000);
}

/** The file name the server would give (api/workflows.py `_safe_name`). */
export function safeFileName(name: string): string {
  const safe = Array.from(name)
    .map((c) => (/[\p{L}\p{N}\-_.]/u.test(c) ? c : "-"))
    .join("")
    .slice(0, 100);
  return safe || "workflow";
}
