/**
 * The whole prompt view: errors, the prompt's tokens (a click lists that token's latents), the
 * ranking switch, the token's latents, the chosen latent's DFA over the source tokens (SAEs on
 * an attention output), and the open FeatureCard below. Knows nothing of Jupyter: it draws
 * `PromptProps` and reports requests through callbacks. The clicked token, the ranking and the
 * chosen latent are UI-only state. Token text goes in through textContent only (../../core/tokens).
 */
import { actColor, barColor, barWidth, maxAbs } from "../../core/colors";
import { fmt, h, signed } from "../../core/dom";
import { fillToken } from "../../core/tokens";
import type { Pair, PromptData } from "../data";
import type { SelectedLatent } from "../schema";
import { dfaOf, firstToken, latentsAt, RANKINGS, type RankKey } from "../table-logic";
import { NEEDS_KERNEL, renderLatentTable } from "./latent-list";

export { NEEDS_KERNEL } from "./latent-list";

export interface PromptProps {
  data: PromptData | null; // the last good view
  errors: string[];
  busy: boolean;
  notice: string; // shown when data is null
  selected: SelectedLatent | null;
  cardOpen: boolean; // a card is open (drawn into `cardHost` by the widget)
  live?: boolean; // a kernel answers (false in an exported file)
}

export interface PromptCallbacks {
  onSelect(selected: { unit: number; pos: number } | null): void;
}

export interface PromptViewHandle {
  root: HTMLDivElement;
  cardHost: HTMLElement;
  update(props: PromptProps): void;
  destroy(): void;
}

interface Ui {
  token: number; // the clicked token (-1: none)
  rank: RankKey;
  chosen: Pair | null; // the latent whose DFA and shading are shown
}

interface Parts {
  root: HTMLDivElement;
  banner: HTMLElement;
  busy: HTMLElement;
  head: HTMLElement;
  tokens: HTMLElement;
  ranks: HTMLElement;
  list: HTMLElement;
  dfa: HTMLElement;
  cardArea: HTMLElement;
  cardTitle: HTMLElement;
  cardHost: HTMLElement;
}

function build(onClose: () => void): Parts {
  const root = h("div", "pv-widget");
  const banner = h("div", "pv-error");
  banner.setAttribute("role", "alert");
  banner.hidden = true;
  const busy = h("span", "pv-busy", "computing…");
  busy.hidden = true;
  const cardArea = h("div", "pv-card-area");
  cardArea.hidden = true;
  const bar = h("div", "pv-card-bar");
  const cardTitle = h("span", "pv-card-title");
  const close = h("button", "pv-close-card", "close card");
  close.type = "button";
  close.addEventListener("click", onClose);
  bar.append(cardTitle, close);
  const cardHost = h("div", "pv-card-host");
  cardArea.append(bar, cardHost);
  const ranks = h("div", "pv-ranks");
  ranks.setAttribute("role", "radiogroup");
  ranks.setAttribute("aria-label", "rank the token's latents by");
  const p: Parts = {
    root,
    banner,
    busy,
    head: h("div", "pv-head"),
    tokens: h("div", "pv-tokens"),
    ranks,
    list: h("div", "pv-list"),
    dfa: h("div", "pv-dfa"),
    cardArea,
    cardTitle,
    cardHost,
  };
  root.append(banner, busy, p.head, p.tokens, ranks, p.list, p.dfa, cardArea);
  return p;
}

function drawHead(el: Parts, data: PromptData | null, notice: string): void {
  const head = h("div", "pv-head");
  if (data) {
    const title = h("div", "pv-title");
    title.append(
      h("span", "pv-name", data.source),
      h("span", "pv-hook", ` at ${data.hook} · ${data.pairs.length} firing (token, latent) pairs`),
    );
    const notes = h("details", "pv-notes");
    notes.append(h("summary", "", "how these numbers are made"));
    for (const n of data.notes) notes.append(h("div", "pv-note", n));
    for (const [what, why] of Object.entries(data.unavailable))
      notes.append(h("div", "pv-note pv-unavailable", `${what}: ${why}`));
    head.append(title, notes);
  } else if (notice) head.append(h("div", "pv-notice", notice));
  el.head.replaceWith(head);
  el.head = head;
}

/** The chosen latent's activation at each token (0 where it is not listed), for the shading. */
function chosenActs(data: PromptData, chosen: Pair | null): number[] {
  const acts = data.tokens.map(() => 0);
  if (!chosen) return acts;
  for (const p of data.pairs) if (p.latent === chosen.latent) acts[p.pos] = p.act;
  return acts;
}

function drawTokens(el: Parts, data: PromptData, ui: Ui, redraw: () => void): void {
  const acts = chosenActs(data, ui.chosen);
  const scale = maxAbs(acts);
  const row = h("div", "pv-tokens");
  row.setAttribute("aria-label", "the prompt's tokens: click one to list its latents");
  data.tokens.forEach((text, i) => {
    const b = h("button", "pv-tok");
    b.type = "button";
    b.dataset.pos = String(i);
    const label = h("span", "pv-tok-text");
    fillToken(label, text);
    const n = data.byPos[i]?.length ?? 0;
    b.append(label, h("span", "pv-tok-count", data.counted[i] ? String(n) : "–"));
    b.setAttribute("aria-pressed", String(i === ui.token));
    b.title = data.counted[i]
      ? `${n} latent${n === 1 ? "" : "s"} fire here`
      : "left out, as in the dataset (BOS)";
    if (ui.chosen && scale > 0) b.style.backgroundColor = actColor(acts[i] ?? 0, scale);
    b.addEventListener("click", () => {
      ui.token = i;
      ui.chosen = null;
      redraw();
    });
    row.append(b);
  });
  el.tokens.replaceWith(row);
  el.tokens = row;
}

function drawRanks(el: Parts, ui: Ui, redraw: () => void): void {
  const buttons = RANKINGS.map(([key, text, title]) => {
    const b = h("button", "pv-rank", text);
    b.type = "button";
    b.dataset.key = key;
    b.title = title;
    b.setAttribute("role", "radio");
    b.setAttribute("aria-checked", String(key === ui.rank));
    b.addEventListener("click", () => {
      ui.rank = key;
      redraw();
    });
    return b;
  });
  el.ranks.replaceChildren(h("span", "pv-rank-label", "rank by "), ...buttons);
}

function drawList(
  el: Parts,
  props: PromptProps,
  ui: Ui,
  cb: PromptCallbacks,
  redraw: () => void,
): void {
  const data = props.data;
  const list = h("div", "pv-list");
  el.list.replaceWith(list);
  el.list = list;
  if (!data || ui.token < 0) {
    if (data) list.append(h("div", "pv-empty", "no latent fires on this prompt"));
    return;
  }
  const pairs = latentsAt(data, ui.token, ui.rank);
  const where = h("div", "pv-where");
  where.append(`token ${ui.token} `);
  const tok = h("span", "pv-quote");
  fillToken(tok, data.tokens[ui.token] ?? "");
  where.append(tok, `: ${pairs.length} latent${pairs.length === 1 ? "" : "s"}`);
  const live = props.live !== false;
  if (!live) where.append(h("span", "pv-offline", ` · opening cards ${NEEDS_KERNEL}`));
  list.append(where);
  if (pairs.length === 0) {
    const why = data.counted[ui.token]
      ? "no latent fires here"
      : "BOS is left out, as in the dataset";
    list.append(h("div", "pv-empty", why));
    return;
  }
  const open = props.selected;
  const table = renderLatentTable(pairs, {
    openLatent: open !== null && open.source === undefined ? open.unit : null,
    chosen: ui.chosen?.index ?? -1,
    live,
    onChoose: (p) => {
      ui.chosen = p;
      redraw();
      if (live) cb.onSelect({ unit: p.latent, pos: p.pos });
    },
  });
  list.append(table);
}

function drawDfa(el: Parts, data: PromptData | null, ui: Ui): void {
  const box = h("div", "pv-dfa");
  el.dfa.replaceWith(box);
  el.dfa = box;
  if (!data || !ui.chosen) return;
  const d = dfaOf(data, ui.chosen);
  const title = h(
    "h4",
    "pv-dfa-title",
    `DFA of latent #${ui.chosen.latent} at token ${ui.chosen.pos}`,
  );
  box.append(title);
  if (d === null) {
    box.append(h("div", "pv-unavailable", data.unavailable.dfa ?? "DFA is not available"));
    return;
  }
  const sum = d.bars.reduce((a, b) => a + b.value, 0);
  box.append(
    h(
      "div",
      "pv-dfa-sum",
      `sources sum to ${fmt(sum)} = pre-activation ${fmt(d.pre)} − bias terms ${fmt(d.bias)}`,
    ),
  );
  const scale = maxAbs(d.bars.map((b) => b.value));
  for (const b of d.bars) {
    const row = h("div", "pv-dfa-row");
    row.dataset.pos = String(b.pos);
    const tok = h("span", "pv-dfa-tok");
    fillToken(tok, b.token);
    const track = h("span", "pv-dfa-track");
    const fill = h("span", "pv-bar");
    fill.style.width = barWidth(Math.abs(b.value), scale);
    fill.style.backgroundColor = barColor(b.value);
    track.append(fill);
    row.append(tok, track, h("span", "pv-num pv-dfa-value", signed(b.value)));
    box.append(row);
  }
}

/** The open card's title: `card of latent 7 (token 3)`, or `card of <source> #3` for another source. */
export function cardTitle(selected: SelectedLatent | null): string {
  if (!selected) return "card";
  if (selected.source !== undefined) return `card of ${selected.source} #${selected.unit}`;
  const at = selected.pos !== undefined && selected.pos >= 0 ? ` (token ${selected.pos})` : "";
  return `card of latent ${selected.unit}${at}`;
}

export function createPromptView(cb: PromptCallbacks): PromptViewHandle {
  const el = build(() => cb.onSelect(null));
  const ui: Ui = { token: -1, rank: "act", chosen: null };
  let props: PromptProps = {
    data: null,
    errors: [],
    busy: false,
    notice: "",
    selected: null,
    cardOpen: false,
  };
  const redraw = (): void => {
    if (props.data) drawTokens(el, props.data, ui, redraw);
    drawRanks(el, ui, redraw);
    drawList(el, props, ui, cb, redraw);
    drawDfa(el, props.data, ui);
  };
  const update = (next: PromptProps): void => {
    const old = props;
    props = next;
    if (next.data !== old.data) {
      drawHead(el, next.data, next.notice);
      ui.token = next.data ? firstToken(next.data) : -1;
      ui.chosen = null;
      if (!next.data) el.tokens.replaceChildren();
    }
    if (next.data !== old.data || next.selected !== old.selected || next.live !== old.live)
      redraw();
    el.banner.replaceChildren(...next.errors.map((m) => h("div", "pv-error-line", m)));
    el.banner.hidden = next.errors.length === 0;
    el.busy.hidden = !next.busy;
    el.root.setAttribute("aria-busy", String(next.busy));
    el.cardArea.hidden = !next.cardOpen;
    el.cardTitle.textContent = cardTitle(next.selected);
  };
  return { root: el.root, cardHost: el.cardHost, update, destroy: () => el.root.remove() };
}
