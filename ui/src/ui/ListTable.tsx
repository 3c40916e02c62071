// A list page's table: its column heads (the last one, over the rows' buttons, named for screen
// readers only); before the first answer a "Loading…" status, and when there is nothing to list,
// what the page says instead.
import type { ReactNode } from "react";

interface ListTableProps<T> {
  /** The table's accessible name. */
  label?: string;
  className?: string;
  /** The column heads; a false one is left out. */
  columns: readonly (string | false)[];
  /** A last column of row buttons. */
  actions?: boolean;
  items: readonly T[];
  /** An item's row: a <tr> with its key. */
  children: (item: T) => ReactNode;
  /** The rows shown are about to change (aria-busy). */
  busy?: boolean;
  /** Nothing is loaded yet: a "Loading…" status stands in the table's place. */
  loading?: boolean;
  /**
   * What stands in the table's place when there are no items (null or false: nothing); not
   * given, the table shows with its heads alone.
   */
  empty?: ReactNode;
}

export function ListTable<T>({
  label,
  className = "list",
  columns,
  actions,
  items,
  children,
  busy,
  loading,
  empty,
}: ListTableProps<T>) {
  if (loading) return <LoadingStatus />;
  if (items.length === 0 && empty !== undefined) return <>{empty}</>;
  return (
    <table className={className} aria-label={label} aria-busy={busy}>
      <thead>
        <tr>
          {columns.map(
            (column) =>
              column !== false && (
                <th key={column} scope="col">
                  {column}
                </th>
              ),
          )}
          {actions && (
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          )}
        </tr>
      </thead>
      <tbody>{items.map((item) => children(item))}</tbody>
    </table>
  );
}

export function LoadingStatus() {
  return (
    <p className="muted" role="status">
      Loading…
    </p>
  );
}

/** An empty list's panel: what is missing, and how to add the first one. */
export function EmptyState({ title, children }: { title: string; children: ReactNode }) {
  return (
    <div className="empty panel">
      <p>
        <strong>{title}</strong>
      </p>
      <p className="muted">{children}</p>
    </div>
  );
}
