/**
 * The whole ContributionGraph view: error banner, controls (threshold slider, target, pinned
 * nodes), the graph, a side panel for the clicked node, a hover box, the host of an open
 * FeatureCard and that of a traced NodeTable ("trace from here", ./trace.ts). Knows nothing of Jupyter: it draws `GraphProps` and reports requests through
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
import { createGraphView, type GraphView } from "./graph-view";
import { placeHover } from "./hover";
import { createLegend } from "./legend";
import { promoteLine } from "./promote";
import { createTraceBar, type TraceNode } from "./trace";

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
  live: boolean; // a kernel answers requests (false in an exported file)
  tracing?: boolean; // a traced node table is open below the graph
}

export interface GraphCallbacks {
  onTarget(pos: number): void;
  onThreshold(value: number): void;
  onOpenCard(source: string, unit: number): void;
  onCloseCard(): void;
  onTrace?(node: TraceNode): void;
  onHeads?(d: GraphData, layer: number, pos: number): void; // an attention node's heads, asked once
  onCloseTrace?(): void;
}

export interface ContributionGraphView {
  root: HTMLDivElement;
  cardHost: HTMLDivElement;
  nodesHost: HTMLDivElement; // where a traced NodeTable is drawn
  update(props: GraphProps): void;
  destroy(): void;
  /** The edges drawn now (for tests and the page's own summaries). */
  drawn(): Edge[];
}

/** The edges kept at one threshold of one graph, grouped by the node they flow into. */
export interface KeptEdges {
  data: GraphData;
  threshold: number;
  edges: Edge[];
  into: Map<string, Edge[]>;
}

/** The view's UI-only state (it never syncs). */
interface GraphState {
  props: GraphProps | null;
  ui: number | null; // the slider while the user moves it, before the model follows
  timer: ReturnType<typeof setTimeout> | undefined; // a threshold not yet sent
  clicked: NodeKey | null;
  pinned: Set<string>;
  kept: KeptEdges | null; // the last edges built, reused while graph and threshold stay
  drawn: Edge[];
}

interface GraphParts {
  root: HTMLDivElement;
  banner: HTMLElement;
  controls: HTMLElement;
  slider: HTMLInputElement;
  value: HTMLElement;
  floor: HTMLElement;
  fit: HTMLButtonElement;
  status: HTMLElement;
  legend: HTMLElement;
  pins: HTMLElement;
  main: HTMLElement;
  panel: HTMLElement;
  hoverBox: HTMLElement;
  cardBar: HTMLElement;
  closeCard: HTMLButtonElement;
  cardHost: HTMLDivElement;
  traceBar: HTMLElement;
  nodesHost: HTMLDivElement;
  empty: HTMLElement;
}

/** What the view's steps share. */
interface Graph {
  cb: GraphCallbacks;
  st: GraphState;
  el: GraphParts;
  view: GraphView;
}

/** The threshold drawn: the slider's, else the model's, never below the graph's own. */
export function shownThreshold(
  ui: number | null,
  model: number | undefined,
  graph: number,
): number {
  return Math.max(ui ?? model ?? graph, graph);
}

/** The target token: the requested one when the graph has it, else the last. */
export const targetPos = (target: number | null, nPos: number): number =>
  target !== null && target < nPos ? target : nPos - 1;

/** The status line: the target and whether the kernel computes. */
export function statusLine(d: GraphData, target: number, busy: boolean): string {
  return `target ${tokenAt(d, target)}${busy ? " · computing…" : ""}`;
}

/**
 * What the slider says beside it about the graph's floor (it holds the edges above the
 * threshold it was computed with): live, a value below it is a recompute, asked once the slider
 * pauses; in an exported file the slider stops at it, and going lower needs a running kernel.
 */
export function floorNote(floor: number, asked: number, live: boolean): string {
  const f = fmt(floor);
  if (!live) return `edges below ${f} need a recompute: open the graph in a running kernel`;
  return asked < floor ? `edges below ${f} need a recompute: asked of the kernel` : "";
}

/**
 * Whether the slider should follow the model again: the model caught up with the slider's
 * value (or put another threshold in place after an error) and no value waits to be sent.
 */
export function followModel(
  ui: number | null,
  pending: boolean,
  next: number,
  previous: number | undefined,
): boolean {
  return ui !== null && !pending && (next === ui || next !== previous);
}

/** Where the routes start: the target's last state and each pinned node. */
export function routeStarts(d: GraphData, target: number, pinned: Iterable<string>): NodeKey[] {
  return [
    targetNode(d, target),
    ...[...pinned].map(parseNodeId).filter((n): n is NodeKey => n !== null),
  ];
}

/** The edges of `d` kept at `threshold`: `last` when it holds them, else built anew. */
export function keptEdges(last: KeptEdges | null, d: GraphData, threshold: number): KeptEdges {
  if (last && last.data === d && last.threshold === threshold) return last;
  const edges = buildEdges(d, threshold);
  return { data: d, threshold, edges, into: incomingIndex(edges) };
}

function buildGraph(onCloseTrace: () => void): GraphParts {
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
  const floor = h("span", "fc-g-floor");
  const fit = h("button", "fc-g-fit", "fit");
  fit.type = "button";
  fit.title = "draw the whole prompt in the width there is";
  fit.setAttribute("aria-pressed", "false");
  const pins = h("span", "fc-g-pins");
  const label = h("label", "fc-g-slider", "threshold ");
  label.append(slider, value);
  controls.append(label, floor, fit, status, pins);
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
  const parts = { root, banner, controls, slider, value, floor, fit, status, pins, main, panel };
  const { bar: traceBar, host: nodesHost } = createTraceBar(onCloseTrace);
  const hosts = { cardBar, closeCard, cardHost, traceBar, nodesHost };
  return { ...parts, legend: createLegend(), hoverBox, ...hosts, empty };
}

const threshold = (g: Graph, d: GraphData) =>
  shownThreshold(g.st.ui, g.st.props?.threshold, d.threshold);

function kept(g: Graph, d: GraphData): KeptEdges {
  g.st.kept = keptEdges(g.st.kept, d, threshold(g, d));
  return g.st.kept;
}

function togglePin(st: GraphState, id: string): void {
  if (st.pinned.has(id)) st.pinned.delete(id);
  else st.pinned.add(id);
}

function showHover(g: Graph, n: NodeKey | null, at: { x: number; y: number }): void {
  const d = g.st.props?.data;
  const box = g.el.hoverBox;
  if (!n || !d) {
    box.hidden = true;
    return;
  }
  const k = kept(g, d);
  box.replaceChildren(
    h("div", "fc-g-hover-title", nodeName(d, n)),
    contributorsTable(d, k.into.get(nodeId(n)) ?? []),
  );
  const promote = promoteLine(d, n);
  if (promote) box.append(promote);
  placeHover(box, g.el.root, at);
}

function drawPins(g: Graph, d: GraphData): void {
  const { pins } = g.el;
  pins.replaceChildren();
  if (g.st.pinned.size === 0) return;
  pins.append(h("span", "fc-g-muted", "pinned:"));
  for (const id of g.st.pinned) {
    const n = parseNodeId(id);
    if (!n) continue;
    const b = h("button", "fc-g-unpin", `${nodeName(d, n)} ×`);
    b.type = "button";
    b.title = "unpin";
    b.addEventListener("click", () => {
      g.st.pinned.delete(id);
      draw(g);
    });
    pins.append(b);
  }
}

function drawPanel(g: Graph, d: GraphData, into: Map<string, Edge[]>): void {
  const { clicked, pinned } = g.st;
  if (!clicked || clicked.pos >= d.nPos) {
    g.el.panel.replaceChildren(
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
    togglePin(g.st, id);
    draw(g);
  });
  const live = g.st.props?.live ?? true;
  const cb = { openCard: g.cb.onOpenCard, live, trace: g.cb.onTrace, heads: g.cb.onHeads };
  const rows = details(d, clicked, into.get(id) ?? [], cb);
  g.el.panel.replaceChildren(pin, ...rows);
}

/** The banner, the busy mark, and which of graph, notice and card show. */
function drawChrome(el: GraphParts, props: GraphProps): void {
  const d = props.data;
  el.banner.replaceChildren(...props.errors.map((m) => h("div", "", m)));
  el.banner.hidden = props.errors.length === 0;
  el.root.classList.toggle("fc-busy", props.busy);
  el.cardBar.hidden = !props.cardOpen;
  el.cardHost.hidden = !props.cardOpen;
  el.traceBar.hidden = el.nodesHost.hidden = props.tracing !== true;
  el.main.hidden = !d;
  el.controls.hidden = !d;
  el.legend.hidden = !d;
  el.empty.hidden = !!d;
  el.empty.textContent = props.notice;
}

function draw(g: Graph): void {
  const { st, el } = g;
  if (!st.props) return;
  const d = st.props.data;
  drawChrome(el, st.props);
  if (!d) return;
  const t = threshold(g, d);
  const live = st.props.live;
  el.slider.min = String(live ? SLIDER.min : Math.min(d.threshold, SLIDER.max));
  if (st.ui === null) el.slider.value = String(t);
  el.value.textContent = fmt(st.ui ?? t);
  el.floor.textContent = floorNote(d.threshold, st.ui ?? st.props.threshold, live);
  el.floor.hidden = el.floor.textContent === "";
  el.slider.title = live ? "" : `the lowest this file holds: ${floorNote(d.threshold, 0, false)}`;
  const target = targetPos(st.props.target, d.nPos);
  el.status.textContent = statusLine(d, target, st.props.busy);
  const k = kept(g, d);
  st.drawn = routes(k.edges, routeStarts(d, target, st.pinned), k.into);
  g.view.update({
    data: d,
    edges: st.drawn,
    target,
    pinned: st.pinned,
    selected: st.clicked ? nodeId(st.clicked) : null,
  });
  drawPins(g, d);
  drawPanel(g, d, k.into);
}

/** "fit": the whole prompt in the width there is, or columns wide enough for their labels. */
function toggleFit(g: Graph): void {
  const on = g.el.fit.getAttribute("aria-pressed") !== "true";
  g.el.fit.setAttribute("aria-pressed", String(on));
  g.el.fit.title = on
    ? "columns wide enough for their labels (the graph scrolls)"
    : "draw the whole prompt in the width there is";
  g.view.setFit(on);
}

/** The slider redraws at once and sends its value once the user pauses. */
function onSlider(g: Graph): void {
  const v = Number(g.el.slider.value);
  if (!Number.isFinite(v)) return;
  g.st.ui = v;
  draw(g);
  clearTimeout(g.st.timer);
  g.st.timer = setTimeout(() => {
    g.st.timer = undefined;
    g.cb.onThreshold(v);
  }, THRESHOLD_DELAY_MS);
}

function update(g: Graph, next: GraphProps): void {
  const { st } = g;
  if (followModel(st.ui, st.timer !== undefined, next.threshold, st.props?.threshold)) {
    st.ui = null;
  }
  st.props = next;
  draw(g);
}

export function createContributionGraph(cb: GraphCallbacks): ContributionGraphView {
  const el = buildGraph(() => cb.onCloseTrace?.());
  const st: GraphState = {
    props: null,
    ui: null,
    timer: undefined,
    clicked: null,
    pinned: new Set(),
    kept: null,
    drawn: [],
  };
  const view = createGraphView({
    onToken: (pos) => cb.onTarget(pos),
    onHover: (n, at) => showHover(g, n, at),
    onNode: (n, pin) => {
      if (pin) togglePin(st, nodeId(n));
      else st.clicked = n;
      draw(g);
    },
  });
  const g: Graph = { cb, st, el, view };
  const listeners = new AbortController();
  el.main.append(view.root, el.panel);
  el.root.append(el.banner, el.controls, el.legend, el.empty, el.main, el.cardBar, el.cardHost);
  el.root.append(el.traceBar, el.nodesHost, el.hoverBox); // the hover box outside the scroller
  el.fit.addEventListener("click", () => toggleFit(g), { signal: listeners.signal });
  el.slider.addEventListener("input", () => onSlider(g), { signal: listeners.signal });
  el.closeCard.addEventListener("click", () => cb.onCloseCard(), { signal: listeners.signal });
  return {
    root: el.root,
    cardHost: el.cardHost,
    nodesHost: el.nodesHost,
    update: (next) => update(g, next),
    destroy() {
      clearTimeout(st.timer);
      listeners.abort();
      view.destroy();
      el.root.remove();
    },
    drawn: () => st.drawn,
  };
}
