/**
 * The whole ContributionGraph view: error banner, controls (threshold slider, target, pinned
 * nodes), the graph, a side panel for the clicked node, a hover box, and the host of an open
 * FeatureCard. Knows nothing of Jupyter: it draws `GraphProps` and reports requests through
 * `GraphCallbacks`.
 *
 * UI-only state lives here and never syncs: the slider's position while it moves, the clicked,
 * hovered and pinned nodes. The slider redraws at once from the edges the state holds (any
 * threshold at or above the state's) and asks the kernel once the user pauses
 * (THRESHOLD_DELAY_MS); below the state's threshold it draws what it has and says so.
 */
import { fmt, h } from "../../core/dom";
import type { GraphData } from "../data";
import {
  buildEdges,
  type Edge,
  incomingIndex,
  type NodeKey,
  nodeId,
  parseNodeId,
  routes,
  targetNode,
} from "../routes";
import { contributorsTable, details, nodeName, tokenAt } from "./details";
import { createGraphView } from "./graph-view";

export const THRESHOLD_DELAY_MS = 250;
export const SLIDER = { min: 0.005, max: 0.25, step: 0.005 };

export interface GraphProps {
  data: GraphData | null;
  target: number | null;
  threshold: number; // the model's
  errors: string[];
  busy: boolean;
  notice: string; // shown instead of the graph when data is null
  cardOpen: boolean;
}

export interface GraphCallbacks {
  onTarget(pos: number): void;
  onThreshold(value: number): void;
  onOpenCard(source: string, unit: number): void;
  onCloseCard(): void;
}

export interface ContributionGraphView {
  root: HTMLDivElement;
  cardHost: HTMLDivElement;
  update(props: GraphProps): void;
  destroy(): void;
  /** The edges drawn now (for tests and the page's own summaries). */
  drawn(): Edge[];
}

export function createContributionGraph(cb: GraphCallbacks): ContributionGraphView {
  const root = h("div", "fc-graph");
  const banner = h("div", "fc-error fc-g-error");
  const controls = h("div", "fc-g-controls");
  const slider = h("input", "fc-g-threshold");
  slider.type = "range";
  slider.min = String(SLIDER.min);
  slider.max = String(SLIDER.max);
  slider.step = String(SLIDER.step);
  const value = h("span", "fc-g-threshold-value");
  const status = h("span", "fc-g-status");
  const pins = h("span", "fc-g-pins");
  const label = h("label", "fc-g-slider", "threshold ");
  label.append(slider, value);
  controls.append(label, status, pins);
  const main = h("div", "fc-g-main");
  const panel = h("div", "fc-g-panel");
  const hoverBox = h("div", "fc-g-hover");
  hoverBox.hidden = true;
  const cardBar = h("div", "fc-g-cardbar");
  const closeCard = h("button", "fc-g-close-card", "close card");
  closeCard.type = "button";
  cardBar.append(closeCard);
  const cardHost = h("div", "fc-g-card");
  const empty = h("div", "fc-g-notice");

  let props: GraphProps | null = null;
  let ui: number | null = null; // the slider while the user moves it, before the model follows
  let timer: ReturnType<typeof setTimeout> | undefined;
  let clicked: NodeKey | null = null;
  const pinned = new Set<string>();
  let edgesFor: {
    data: GraphData;
    threshold: number;
    edges: Edge[];
    into: Map<string, Edge[]>;
  } | null = null;
  let drawn: Edge[] = [];

  const view = createGraphView({
    onToken: (pos) => cb.onTarget(pos),
    onHover: (n, at) => showHover(n, at),
    onNode: (n, pin) => {
      if (pin) togglePin(nodeId(n));
      else clicked = n;
      draw();
    },
  });
  view.content.append(hoverBox);
  main.append(view.root, panel);
  root.append(banner, controls, empty, main, cardBar, cardHost);

  const threshold = (d: GraphData) => Math.max(ui ?? props?.threshold ?? d.threshold, d.threshold);
  const kept = (d: GraphData) => {
    const t = threshold(d);
    if (!edgesFor || edgesFor.data !== d || edgesFor.threshold !== t) {
      const edges = buildEdges(d, t);
      edgesFor = { data: d, threshold: t, edges, into: incomingIndex(edges) };
    }
    return edgesFor;
  };

  function togglePin(id: string): void {
    if (pinned.has(id)) pinned.delete(id);
    else pinned.add(id);
  }

  function showHover(n: NodeKey | null, at: { x: number; y: number }): void {
    const d = props?.data;
    if (!n || !d) {
      hoverBox.hidden = true;
      return;
    }
    const k = kept(d);
    hoverBox.replaceChildren(
      h("div", "fc-g-hover-title", nodeName(d, n)),
      contributorsTable(d, k.into.get(nodeId(n)) ?? []),
    );
    hoverBox.style.left = `${Math.round(at.x + 14)}px`;
    hoverBox.style.top = `${Math.round(at.y + 8)}px`;
    hoverBox.hidden = false;
  }

  function drawPins(d: GraphData): void {
    pins.replaceChildren();
    if (pinned.size === 0) return;
    pins.append(h("span", "fc-g-muted", "pinned:"));
    for (const id of pinned) {
      const n = parseNodeId(id);
      if (!n) continue;
      const b = h("button", "fc-g-unpin", `${nodeName(d, n)} ×`);
      b.type = "button";
      b.title = "unpin";
      b.addEventListener("click", () => {
        pinned.delete(id);
        draw();
      });
      pins.append(b);
    }
  }

  function drawPanel(d: GraphData, into: Map<string, Edge[]>): void {
    if (!clicked || clicked.pos >= d.nPos) {
      panel.replaceChildren(
        h(
          "div",
          "fc-g-muted",
          "click a node for its heads, units or logit lens; shift-click pins it",
        ),
      );
      return;
    }
    const id = nodeId(clicked);
    const pin = h("button", "fc-g-pin", pinned.has(id) ? "unpin" : "pin");
    pin.type = "button";
    pin.addEventListener("click", () => {
      togglePin(id);
      draw();
    });
    panel.replaceChildren(
      pin,
      ...details(d, clicked, into.get(id) ?? [], { openCard: cb.onOpenCard }),
    );
  }

  function draw(): void {
    if (!props) return;
    const d = props.data;
    banner.replaceChildren(...props.errors.map((m) => h("div", "", m)));
    banner.hidden = props.errors.length === 0;
    root.classList.toggle("fc-busy", props.busy);
    cardBar.hidden = !props.cardOpen;
    cardHost.hidden = !props.cardOpen;
    main.hidden = !d;
    controls.hidden = !d;
    empty.hidden = !!d;
    empty.textContent = props.notice;
    if (!d) return;
    const t = threshold(d);
    if (ui === null) slider.value = String(t);
    value.textContent = fmt(ui ?? t);
    const target = props.target !== null && props.target < d.nPos ? props.target : d.nPos - 1;
    const below = ui !== null && ui < d.threshold;
    const note = below ? ` · edges at or below ${fmt(d.threshold)} are not in this graph yet` : "";
    status.textContent = `target ${tokenAt(d, target)}${props.busy ? " · computing…" : ""}${note}`;
    const k = kept(d);
    const starts = [
      targetNode(d, target),
      ...[...pinned].map(parseNodeId).filter((n): n is NodeKey => n !== null),
    ];
    drawn = routes(k.edges, starts, k.into);
    view.update({
      data: d,
      edges: drawn,
      target,
      pinned,
      selected: clicked ? nodeId(clicked) : null,
    });
    drawPins(d);
    drawPanel(d, k.into);
  }

  const listeners = new AbortController();
  slider.addEventListener(
    "input",
    () => {
      const v = Number(slider.value);
      if (!Number.isFinite(v)) return;
      ui = v;
      draw();
      clearTimeout(timer);
      timer = setTimeout(() => {
        timer = undefined;
        cb.onThreshold(v);
      }, THRESHOLD_DELAY_MS);
    },
    { signal: listeners.signal },
  );
  closeCard.addEventListener("click", () => cb.onCloseCard(), { signal: listeners.signal });

  return {
    root,
    cardHost,
    update(next) {
      // the model caught up with the slider (or put it back after an error): follow the model
      if (
        ui !== null &&
        timer === undefined &&
        (next.threshold === ui || next.threshold !== props?.threshold)
      )
        ui = null;
      props = next;
      draw();
    },
    destroy() {
      clearTimeout(timer);
      listeners.abort();
      view.destroy();
      root.remove();
    },
    drawn: () => drawn,
  };
}
