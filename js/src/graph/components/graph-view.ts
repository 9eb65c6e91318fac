/**
 * The graph itself, in SVG: level names up the left side, tokens along the bottom (click one to
 * make it the target), residual states as circles, attention and MLP blocks as squares, and the
 * drawn edges with width and opacity by weight. Hovering or clicking a node is reported to the
 * caller; shift-click asks to pin it. Knows nothing of Jupyter.
 */
import { fmt, h, s } from "../../core/dom";
import { quoteToken, tokenLabel } from "../../core/tokens";
import type { GraphData } from "../data";
import { columnWidth, type Layout, labelChars, layoutFor } from "../layout";
import { type Edge, type NodeKey, nodeId, parseNodeId } from "../routes";

export interface GraphViewProps {
  data: GraphData;
  edges: Edge[]; // the edges to draw (the routes)
  target: number;
  pinned: ReadonlySet<string>;
  selected: string | null; // the id of the clicked node
}

export interface GraphViewCallbacks {
  onToken(pos: number): void;
  onHover(node: NodeKey | null, at: { x: number; y: number }): void; // at: the node's centre, in the window
  onNode(node: NodeKey, pin: boolean): void;
}

export interface GraphView {
  root: HTMLDivElement; // a scrolling box; `content` inside it holds the svg
  content: HTMLDivElement;
  update(props: GraphViewProps): void;
  /** Whole prompt in view (narrow columns) or columns at least MIN_COL wide (scrolls). */
  setFit(fit: boolean): void;
  /** The layout drawn now (null before the first update). */
  layout(): Layout | null;
  destroy(): void;
}

/** Empty grid dots are drawn only up to this many residual states. */
export const MAX_GRID_NODES = 6000;

export const edgeWidth = (w: number): number => 0.75 + 5 * Math.min(1, Math.max(0, w));
/** At least 0.75, so the lightest edge keeps 3:1 against the background (graph.css colours). */
export const edgeOpacity = (w: number): number => 0.75 + 0.25 * Math.min(1, Math.max(0, w));

function drawEdges(g: SVGGElement, lay: Layout, edges: Edge[]): void {
  for (const e of [...edges].sort((a, b) => a.weight - b.weight)) {
    const a = lay.point(e.src);
    const b = lay.point(e.dst);
    const line = s("line", {
      class: `fc-g-edge fc-g-edge-${e.kind}`,
      x1: a.x,
      y1: a.y,
      x2: b.x,
      y2: b.y,
      "stroke-width": edgeWidth(e.weight).toFixed(2),
      "stroke-opacity": edgeOpacity(e.weight).toFixed(2),
      "data-src": nodeId(e.src),
      "data-dst": nodeId(e.dst),
      "data-weight": e.weight.toFixed(4),
    });
    line.append(s("title", {}, `${e.kind} ${fmt(e.weight)}`));
    g.append(line);
  }
}

function drawNodes(g: SVGGElement, lay: Layout, props: GraphViewProps, onRoute: Set<string>): void {
  const { data } = props;
  const ids = new Set(onRoute);
  for (const id of props.pinned) ids.add(id);
  if (data.nLevels * data.nPos <= MAX_GRID_NODES) {
    for (let r = 0; r < data.nLevels; r++)
      for (let p = 0; p < data.nPos; p++) ids.add(`resid:${r}:${p}`);
  }
  for (const id of ids) {
    const n = parseNodeId(id);
    if (!n) continue;
    const { x, y } = lay.point(n);
    const cls = [`fc-g-node`, `fc-g-${n.kind}`];
    if (onRoute.has(id)) cls.push("fc-g-on");
    if (props.pinned.has(id)) cls.push("fc-g-pinned");
    if (props.selected === id) cls.push("fc-g-selected");
    const attrs = { class: cls.join(" "), "data-node": id };
    const el =
      n.kind === "resid"
        ? s("circle", { ...attrs, cx: x, cy: y, r: onRoute.has(id) ? 5 : 3 })
        : s("rect", { ...attrs, x: x - 5, y: y - 5, width: 10, height: 10, rx: 2 });
    g.append(el);
  }
}

function drawAxes(svg: SVGSVGElement, lay: Layout, props: GraphViewProps): void {
  const { data } = props;
  const axis = s("g", { class: "fc-g-axes" });
  for (let layer = 0; layer < data.nLayers; layer++) {
    const lo = lay.y(data.mlpOut[layer] ?? data.attnOut[layer] ?? 0) - 12; // the layer's top state
    const hi = lay.y(data.attnIn[layer] ?? 0) - 12; // just above the state it reads
    if (layer % 2 === 1) {
      const band = {
        class: "fc-g-band",
        x: lay.options.left,
        y: lo,
        width: lay.width,
        height: hi - lo,
      };
      axis.append(s("rect", band));
    }
  }
  for (let r = 0; r < data.nLevels; r++) {
    const label = s(
      "text",
      { class: "fc-g-level", x: lay.options.left - 8, y: lay.y(r) + 4 },
      data.levels[r],
    );
    axis.append(label);
  }
  for (let p = 0; p < data.nPos; p++) {
    const text = data.tokens[p] ?? "";
    const t = s("text", {
      class: p === props.target ? "fc-g-token fc-g-target" : "fc-g-token",
      x: lay.x(p),
      y: lay.tokenY,
      "data-pos": p,
    });
    t.textContent = tokenLabel(text, Math.max(1, labelChars(lay.options.colWidth)));
    t.append(s("title", {}, `${quoteToken(text)} (position ${p}); click: routes to this token`));
    axis.append(t);
    if (p === props.target) {
      const x = lay.x(p);
      const y = lay.y(0) + 10;
      axis.append(
        s("path", {
          class: "fc-g-marker",
          d: `M${x - 5},${y + 6} L${x + 5},${y + 6} L${x},${y} Z`,
        }),
      );
    }
  }
  svg.append(axis);
}

/** The ids of the nodes the edges join. */
export function onRouteIds(edges: readonly Edge[]): Set<string> {
  const ids = new Set<string>();
  for (const e of edges) {
    ids.add(nodeId(e.src));
    ids.add(nodeId(e.dst));
  }
  return ids;
}

function renderSvg(lay: Layout, props: GraphViewProps): SVGSVGElement {
  const svg = s("svg", {
    class: "fc-g-svg",
    width: lay.width,
    height: lay.height,
    viewBox: `0 0 ${lay.width} ${lay.height}`,
  });
  drawAxes(svg, lay, props);
  const edges = s("g", { class: "fc-g-edges" });
  drawEdges(edges, lay, props.edges);
  const nodes = s("g", { class: "fc-g-nodes" });
  drawNodes(nodes, lay, props, onRouteIds(props.edges));
  svg.append(edges, nodes);
  return svg;
}

const nodeOf = (ev: Event): NodeKey | null => {
  const el = (ev.target as Element | null)?.closest?.("[data-node]");
  return el ? parseNodeId(el.getAttribute("data-node") ?? "") : null;
};

const nodeAttr = (t: EventTarget | null): string | null =>
  (t as Element | null)?.closest?.("[data-node]")?.getAttribute("data-node") ?? null;

/**
 * Reports token clicks, node clicks (shift: pin) and node hovers at the node's centre. A click
 * ends a hover, and the clicked node (drawn anew under the pointer) opens none until the
 * pointer leaves it.
 */
function listen(
  content: HTMLElement,
  cb: GraphViewCallbacks,
  layout: () => Layout | null,
  signal: AbortSignal,
): void {
  let quiet: string | null = null; // the node clicked last, while the pointer stays on it
  const click = (ev: Event) => {
    cb.onHover(null, { x: 0, y: 0 }); // a click closes the hover box: it would cover the edges
    quiet = nodeAttr(ev.target);
    const tok = (ev.target as Element | null)?.closest?.("[data-pos]");
    if (tok) {
      cb.onToken(Number(tok.getAttribute("data-pos")));
      return;
    }
    const n = nodeOf(ev);
    if (n) cb.onNode(n, (ev as MouseEvent).shiftKey);
  };
  const over = (ev: Event) => {
    const el = (ev.target as Element | null)?.closest?.("[data-node]");
    const n = nodeOf(ev);
    if (!n || !el || !layout() || el.getAttribute("data-node") === quiet) return;
    const r = el.getBoundingClientRect();
    cb.onHover(n, { x: r.left + r.width / 2, y: r.top + r.height / 2 });
  };
  const out = (ev: Event) => {
    if (!nodeOf(ev)) return;
    if (nodeAttr((ev as MouseEvent).relatedTarget) !== quiet) quiet = null;
    cb.onHover(null, { x: 0, y: 0 });
  };
  content.addEventListener("click", click, { signal });
  content.addEventListener("mouseover", over, { signal });
  content.addEventListener("mouseout", out, { signal });
}

/**
 * Scrolls `root` so the target's token (the bottom row, at column x) is in view, unless it is:
 * horizontally to the target's column centred, vertically to the token row.
 */
export function scrollToTarget(root: HTMLElement, lay: Layout, target: number): void {
  const x = lay.x(target);
  const half = lay.options.colWidth / 2;
  if (x - half < root.scrollLeft || x + half > root.scrollLeft + root.clientWidth) {
    root.scrollLeft = Math.max(0, x - root.clientWidth / 2);
  }
  if (lay.tokenY + 8 > root.scrollTop + root.clientHeight) {
    root.scrollTop = lay.tokenY + 8 - root.clientHeight;
  }
}

interface ViewState {
  props: GraphViewProps | null;
  lay: Layout | null;
  fit: boolean;
  shown: string; // the target and widths last scrolled to
}

function redraw(root: HTMLElement, content: HTMLElement, st: ViewState): void {
  const props = st.props;
  if (!props) return;
  const col = columnWidth(root.clientWidth, props.data.nPos, st.fit);
  st.lay = layoutFor(props.data, col);
  const svg = renderSvg(st.lay, props);
  content.querySelector("svg")?.remove();
  content.prepend(svg);
  const key = `${props.target}:${col}:${root.clientWidth}`; // a new target, or a new width
  if (key !== st.shown && root.clientWidth > 0) {
    st.shown = key;
    scrollToTarget(root, st.lay, props.target);
  }
}

export function createGraphView(cb: GraphViewCallbacks): GraphView {
  const root = h("div", "fc-g-scroll");
  const content = h("div", "fc-g-content");
  root.append(content);
  const st: ViewState = { props: null, lay: null, fit: false, shown: "" };
  const listeners = new AbortController();
  listen(content, cb, () => st.lay, listeners.signal);
  // the columns follow the room the graph has (the panel beside it or below, the window)
  let width = -1;
  const resized = () => {
    if (root.clientWidth === width) return;
    width = root.clientWidth;
    redraw(root, content, st);
  };
  const observer = typeof ResizeObserver === "undefined" ? null : new ResizeObserver(resized);
  observer?.observe(root);
  return {
    root,
    content,
    update(props) {
      st.props = props;
      redraw(root, content, st);
    },
    setFit(fit) {
      st.fit = fit;
      redraw(root, content, st);
    },
    layout: () => st.lay,
    destroy() {
      observer?.disconnect();
      listeners.abort();
      root.remove();
    },
  };
}
