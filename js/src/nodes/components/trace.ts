/**
 * The table's target: its line (description, value, predictions); and trace upstream: each unit
 * row's node spec (what `fc.node(...)` makes in Python), the row's
 * "trace" button that asks the kernel for a table with that node as the target, and the
 * breadcrumb of the targets followed, each one click away. Without a kernel (an exported file)
 * the buttons and the crumbs are disabled and say why.
 */
import { h } from "../../core/dom";
import { quoteToken } from "../../core/tokens";
import type { PromptData, RowData, TableData } from "../data";
import type { NodeSpecPayload, TraceStep } from "../schema";
import { fmtValue as fmt } from "../table-logic";

/** Why tracing is disabled in an exported file (on each button and crumb). */
export const TRACE_NEEDS_KERNEL = "tracing needs a running kernel";

export type TraceSpec = Partial<NodeSpecPayload> & Pick<NodeSpecPayload, "kind" | "pos">;

/** The node spec of a row. A roll-up (a head summed over sources, a whole attention or MLP layer)
 * is its write with no direction: the kernel projects it on the shown target's gradient at that
 * write, frozen, so the new target's value is the row's act × grad (`NodeTable.trace`). */
export function rowSpec(row: RowData): TraceSpec | null {
  const { layer, unit, pos, family } = row;
  switch (family.kind) {
    case "mlp":
      return { kind: "neuron", layer, unit, pos };
    case "attn":
      return { kind: "attn", layer, head: unit, pos, src: row.src };
    case "sae":
      return { kind: "latent", source: family.sae, unit, pos };
    case "error":
      return { kind: "error", source: family.sae, pos };
    case "head":
      return { kind: "write", write_kind: "attn", layer, head: unit, pos };
    case "attn_layer":
      return { kind: "write", write_kind: "attn", layer, pos };
    case "mlp_layer":
      return { kind: "write", write_kind: "mlp", layer, pos };
    default:
      return null;
  }
}

/** A row's trace button; null for rows without a node spec. */
export function traceButton(
  row: RowData,
  onTrace: ((spec: TraceSpec) => void) | undefined,
): HTMLButtonElement | null {
  const spec = rowSpec(row);
  if (!spec) return null;
  const b = h("button", "nt-trace", "trace");
  b.type = "button";
  const along =
    spec.kind === "write" ? "'s write along the target's gradient there (its act × grad)" : "";
  const what = `what feeds ${row.name}${along} at position ${row.pos}: a table with it as the target`;
  b.title = onTrace ? what : `${TRACE_NEEDS_KERNEL}: ${what}`;
  b.disabled = !onTrace;
  if (onTrace) b.addEventListener("click", () => onTrace(spec));
  return b;
}

/** The breadcrumb: every target followed, the last (shown) one current; hidden for one step. */
export function drawTrail(
  box: HTMLElement,
  trail: readonly TraceStep[],
  onBack: ((index: number) => void) | undefined,
): void {
  box.replaceChildren();
  box.hidden = trail.length < 2;
  box.setAttribute("aria-label", "targets followed");
  trail.forEach((step, i) => {
    if (i > 0) box.append(h("span", "nt-crumb-sep", " › "));
    const label = step.description; // a node target's says its side
    if (i === trail.length - 1) {
      const cur = h("span", "nt-crumb nt-crumb-current", label);
      cur.setAttribute("aria-current", "step");
      box.append(cur);
      return;
    }
    const b = h("button", "nt-crumb", label);
    b.type = "button";
    b.dataset.index = String(i);
    b.title = onBack ? `back to this target` : `${TRACE_NEEDS_KERNEL}: back to this target`;
    b.disabled = !onBack;
    if (onBack) b.addEventListener("click", () => onBack(i));
    box.append(b);
  });
}

/** A prompt's target value, with its clean value and the ablations' effect when there are any. */
export function targetText(p: PromptData, nPrompts: number, ablated: boolean): string {
  const delta = p.target - p.cleanTarget;
  return (
    `${nPrompts > 1 ? `${p.label}: ` : ""}target ${fmt(p.target)}` +
    (ablated
      ? ` (clean ${fmt(p.cleanTarget)}, ablation effect ${delta >= 0 ? "+" : ""}${fmt(delta)})`
      : "")
  );
}

/** The target line: what the gradients are of, its value per prompt, the predictions. */
export function targetLine(data: TableData): HTMLElement {
  const head = h("div", "nt-target-line");
  head.append(h("span", "nt-target-desc", data.target.description));
  for (const p of data.prompts) {
    const v = h("span", "nt-value");
    v.dataset.prompt = p.label;
    v.textContent = targetText(p, data.prompts.length, data.ablations.length > 0);
    head.append(v);
  }
  const preds = h("div", "nt-preds");
  const first = data.prompts[0];
  if (first) {
    preds.append(h("span", "nt-preds-label", "most likely next:"));
    for (const p of first.predictions)
      preds.append(h("span", "nt-pred", `${quoteToken(p.token)} ${(100 * p.prob).toFixed(1)}%`));
  }
  const box = h("div", "nt-head");
  box.append(head, preds);
  return box;
}
