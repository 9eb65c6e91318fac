/**
 * "Trace from here": the buttons that ask for a NodeTable with a graph node as its target, and
 * the bar above that table. Which node-table target each graph node is, and how its value is
 * defined, is python/featurecard/graph/trace.py's to say; here each button carries its node.
 *
 * - a neuron or SAE latent listed in a block's details, and an SAE's error part;
 * - a head at a (query, source) pair (its attention probability), a head summed over its
 *   sources and an attention or MLP block (the norm of its write);
 * - a residual state has none: the panel says so.
 *
 * In an exported file (no kernel) the buttons are disabled, their title says why, and one note
 * says it where they are.
 */
import { h } from "../../core/dom";

/** A graph node as the kernel's `trace` request takes it. */
export type TraceNode =
  | { kind: "neuron"; layer: number; unit: number; pos: number }
  | { kind: "latent"; source: string; unit: number; pos: number }
  | { kind: "error"; source: string; pos: number }
  | { kind: "attn"; layer: number; head: number; pos: number; src: number }
  | { kind: "head"; layer: number; head: number; pos: number }
  | { kind: "block"; block: "attn" | "mlp"; layer: number; pos: number };

/** Why a trace button is disabled in an exported file. */
export const TRACE_NEEDS_KERNEL = "needs a running kernel";

/** What a residual node's panel says instead of a trace button. */
export const NO_TRACE_RESID =
  "trace from here: a residual state is a sum of what earlier blocks wrote, not a node of the " +
  "model, so it has no node-table target; trace from a block, a head or a unit";

export interface TraceCallbacks {
  trace?: ((node: TraceNode) => void) | undefined; // absent: no kernel to ask
  live: boolean;
}

/** A button that traces upstream from `node` ("what feeds `what`"). */
export function traceButton(
  node: TraceNode,
  what: string,
  cb: TraceCallbacks,
  label = "trace",
): HTMLButtonElement {
  const b = h("button", "fc-g-trace", label);
  b.type = "button";
  b.dataset.trace = JSON.stringify(node);
  const live = cb.live && cb.trace !== undefined;
  b.title = live
    ? `trace from here: a node table of what feeds ${what}, below the graph`
    : `trace from here (a node table of what feeds ${what}) ${TRACE_NEEDS_KERNEL}`;
  b.disabled = !live;
  b.addEventListener("click", () => cb.trace?.(node));
  return b;
}

/** The note an exported file shows where trace buttons are. */
export function traceNote(cb: TraceCallbacks): HTMLElement | null {
  if (cb.live) return null;
  return h("div", "fc-g-muted fc-g-trace-needs-kernel", `trace from here: ${TRACE_NEEDS_KERNEL}`);
}

/** The bar above a traced table, with its close button, and the table's host. */
export function createTraceBar(onClose: () => void): { bar: HTMLElement; host: HTMLDivElement } {
  const bar = h("div", "fc-g-tracebar");
  const close = h("button", "fc-g-close-trace", "close table");
  close.type = "button";
  close.title = "close the traced node table";
  close.addEventListener("click", onClose);
  bar.append(h("span", "fc-g-muted", "traced from the graph: what feeds the node"), close);
  const host = h("div", "fc-g-traced");
  bar.hidden = true;
  host.hidden = true;
  return { bar, host };
}
