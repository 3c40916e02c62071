// The editor's keyboard shortcuts and clipboard. None acts while the focus is in a text field
// (except save) or while a dialog is open, so typing and dialogs keep their own keys.
import { useEffect } from "react";
import { clipboardText, parseClipboard, useEditor } from "../store/editor";

export interface ShortcutActions {
  save: () => void;
  autoLayout: () => void;
}

export function isTextField(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  if (target instanceof HTMLInputElement) {
    return !["button", "checkbox", "radio", "range", "color", "file", "submit", "reset"].includes(target.type);
  }
  return false;
}

const dialogOpen = () => document.querySelector("dialog[open]") !== null;

/** Text the user selected on the page (in a result, an error): Ctrl+C copies that, not nodes. */
const textSelected = () => (window.getSelection()?.toString() ?? "") !== "";

export function useShortcuts({ save, autoLayout }: ShortcutActions) {
  useEffect(() => {
    const onKeyDown = (event: KeyboardEvent) => {
      if (event.defaultPrevented || dialogOpen()) return;
      const mod = event.ctrlKey || event.metaKey;
      const key = event.key.toLowerCase();
      if (mod && key === "s") {
        event.preventDefault();
        save();
        return;
      }
      if (isTextField(event.target)) return;
      const store = useEditor.getState();
      if (mod && key === "z") {
        event.preventDefault();
        if (event.shiftKey) store.redo();
        else store.undo();
      } else if (mod && key === "y") {
        event.preventDefault();
        store.redo();
      } else if (mod && key === "a") {
        event.preventDefault();
        store.selectAll();
      } else if (!mod && !event.altKey && (event.key === "Delete" || event.key === "Backspace")) {
        if (store.selected.length || store.selectedEdges.length) {
          event.preventDefault();
          store.removeSelected();
        }
      } else if (!mod && !event.altKey && !event.shiftKey && key === "l") {
        event.preventDefault();
        autoLayout();
      }
    };

    // The clipboard events carry the data without asking for a permission, and reach other tabs.
    const onCopy = (event: ClipboardEvent) => {
      if (dialogOpen() || isTextField(event.target) || textSelected()) return;
      const clip = useEditor.getState().copy();
      if (!clip) return;
      event.clipboardData?.setData("text/plain", clipboardText(clip));
      event.preventDefault();
    };
    const onCut = (event: ClipboardEvent) => {
      if (dialogOpen() || isTextField(event.target) || textSelected()) return;
      const store = useEditor.getState();
      const clip = store.copy();
      if (!clip) return;
      event.clipboardData?.setData("text/plain", clipboardText(clip));
      event.preventDefault();
      store.removeSelected();
    };
    const onPaste = (event: ClipboardEvent) => {
      if (dialogOpen() || isTextField(event.target)) return;
      const text = event.clipboardData?.getData("text/plain") ?? "";
      const clip = parseClipboard(text);
      const store = useEditor.getState();
      if (!clip && !store.clipboard) return;
      event.preventDefault();
      // our own copy again: paste from the store, which offsets each paste from the last
      store.paste(text === store.copiedText ? null : clip);
    };

    window.addEventListener("keydown", onKeyDown);
    document.addEventListener("copy", onCopy);
    document.addEventListener("cut", onCut);
    document.addEventListener("paste", onPaste);
    return () => {
      window.removeEventListener("keydown", onKeyDown);
      document.removeEventListener("copy", onCopy);
      document.removeEventListener("cut", onCut);
      document.removeEventListener("paste", onPaste);
    };
  }, [save, autoLayout]);
}
