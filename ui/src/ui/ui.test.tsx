// The shared pieces of the pages in a DOM: the list table, the guarded button, the dialog form.
import { act, type ReactNode } from "react";
import { describe, expect, it, vi } from "vitest";
import { DialogForm } from "./DialogForm";
import { GuardedButton } from "./GuardedButton";
import { EmptyState, ListTable } from "./ListTable";
import { rootPerTest } from "./testRoot";

const dom = rootPerTest();
const render = dom.render;

const button = (name: string) =>
  [...dom.container.querySelectorAll("button")].find((b) => b.textContent === name) as HTMLButtonElement;

describe("ListTable", () => {
  const table = (props: { items: string[]; loading?: boolean; empty?: ReactNode }) => (
    <ListTable label="Things" columns={["Name", false, "Size"]} actions {...props}>
      {(item) => (
        <tr key={item}>
          <td>{item}</td>
        </tr>
      )}
    </ListTable>
  );

  it("heads its columns, the actions' for screen readers only", () => {
    render(table({ items: ["a", "b"] }));
    const heads = [...dom.container.querySelectorAll("th")];
    expect(heads.map((th) => th.textContent)).toEqual(["Name", "Size", "Actions"]);
    expect(heads.every((th) => th.getAttribute("scope") === "col")).toBe(true);
    expect(heads[2]!.querySelector(".visually-hidden")).not.toBeNull();
    expect(dom.container.querySelector("table")!.getAttribute("aria-label")).toBe("Things");
    expect(dom.container.querySelectorAll("tbody tr")).toHaveLength(2);
  });

  it("says it is loading, then what stands for an empty list", () => {
    render(table({ items: [], loading: true, empty: <EmptyState title="None yet.">Add one.</EmptyState> }));
    expect(dom.container.querySelector('[role="status"]')!.textContent).toBe("Loading…");
    render(table({ items: [], empty: <EmptyState title="None yet.">Add one.</EmptyState> }));
    expect(dom.container.querySelector("table")).toBeNull();
    expect(dom.container.textContent).toBe("None yet.Add one.");
    render(table({ items: [], empty: false }));
    expect(dom.container.innerHTML).toBe("");
    render(table({ items: [] }));
    expect(dom.container.querySelector("table")).not.toBeNull();
  });
});

describe("GuardedButton", () => {
  it("is disabled with the reason as its title when blocked", () => {
    render(
      <GuardedButton blocked="Needs the admin role" title="Remove it">
        Remove
      </GuardedButton>,
    );
    expect(button("Remove").disabled).toBe(true);
    expect(button("Remove").title).toBe("Needs the admin role");
    expect(button("Remove").type).toBe("button");
    render(
      <GuardedButton blocked={null} title="Remove it">
        Remove
      </GuardedButton>,
    );
    expect(button("Remove").disabled).toBe(false);
    expect(button("Remove").title).toBe("Remove it");
  });
});

describe("DialogForm", () => {
  it("stays busy on success and shows a refusal", async () => {
    let settle: { resolve: () => void; reject: (e: unknown) => void } | undefined;
    const send = vi.fn(
      () =>
        new Promise<void>((resolve, reject) => {
          settle = { resolve, reject };
        }),
    );
    render(
      <DialogForm onSubmit={send} onCancel={() => undefined} submitLabel="Save">
        <input aria-label="Name" />
      </DialogForm>,
    );
    act(() => button("Save").click());
    expect(send).toHaveBeenCalledTimes(1);
    expect(button("Save").disabled).toBe(true);
    await act(async () => settle!.reject(new Error("no such thing")));
    expect(dom.container.querySelector('[role="alert"]')!.textContent).toBe("no such thing");
    expect(button("Save").disabled).toBe(false);
    act(() => button("Save").click());
    expect(dom.container.querySelector('[role="alert"]')).toBeNull();
    await act(async () => settle!.resolve());
    expect(button("Save").disabled).toBe(true);
  });

  it("sends nothing when the form's own checks stop it, and offers another way", () => {
    const other = vi.fn(() => Promise.resolve());
    render(
      <DialogForm
        onSubmit={() => null}
        onCancel={() => undefined}
        submitLabel="Start"
        cancelLabel="Keep it"
        alternative={{ label: "Save and start", onSubmit: other }}
      >
        {null}
      </DialogForm>,
    );
    act(() => button("Start").click());
    expect(button("Start").disabled).toBe(false);
    expect([...dom.container.querySelectorAll("button")].map((b) => b.textContent)).toEqual([
      "Keep it",
      "Save and start",
      "Start",
    ]);
    act(() => button("Save and start").click());
    expect(other).toHaveBeenCalledTimes(1);
  });
});
