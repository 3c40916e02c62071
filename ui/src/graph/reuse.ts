// Keeping what React Flow is handed the same object where nothing changed. React Flow keeps
// what it knows of a node or edge handed over as the same object (its measured size, its
// handles) and redraws only the new ones; the canvas converts the whole workflow on every
// edit (convert.ts toFlow), so without this every edit, selection or step of a run redrew
// every node. (A module of its own so that only the editor's code carries it.)

/**
 * Two values the canvas would draw alike: the same value, or arrays and plain objects whose
 * members are alike, looking at most `depth` levels down (below that, only the same object is).
 */
function alike(a: unknown, b: unknown, depth: number): boolean {
  if (Object.is(a, b)) return true;
  if (depth === 0 || typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => alike(x, b[i], depth - 1));
  }
  if (Object.getPrototypeOf(a) !== Object.prototype || Object.getPrototypeOf(b) !== Object.prototype) return false;
  const keysA = Object.keys(a);
  if (keysA.length !== Object.keys(b).length) return false;
  const objA = a as Record<string, unknown>;
  const objB = b as Record<string, unknown>;
  return keysA.every((k) => Object.hasOwn(objB, k) && alike(objA[k], objB[k], depth - 1));
}

/**
 * `next`, where an element alike to the element of `previous` with the same id (its fields, and
 * their members two levels down: a position, the data's ports) is that earlier object; and
 * `previous` itself when every element is. React Flow keeps what it knows of a node or edge
 * handed over as the same object and redraws only the new ones, so an edit, a selection or a
 * run's progress redraws only what it touched.
 */
export function reuseUnchanged<T extends { id: string }>(previous: readonly T[], next: T[]): T[] {
  if (previous.length === 0) return next;
  const before = new Map(previous.map((item) => [item.id, item]));
  let same = previous.length === next.length;
  const out = next.map((item, index) => {
    const old = before.get(item.id);
    const kept = old !== undefined && alike(old, item, 3) ? old : item;
    if (kept !== previous[index]) same = false;
    return kept;
  });
  return same ? (previous as T[]) : out;
}
