/**
 * What the tooltip says about one shown token (sae_vis's convention, exact numbers):
 * its text and token id, its dataset position, the unit's activation there and the token's
 * direct logit; where the unit fires, its effect on the next-token prediction made at this
 * token: the loss change on the true next token and the 5 tokens whose log-probability it
 * raises and lowers most; on an underlined token, the loss change it received from the
 * previous token. Every number is the state's, printed with 3 decimals (`data-value` holds
 * the exact one). A token of a widened row outside the card's own ±5 tokens has only what the
 * kernel's window sent: its text, id, place and activation.
 */

import { fmt, h, signed } from "../../core/dom";
import { fillToken, quoteToken } from "../../core/tokens";
import type { CardData, SeqData, WindowData } from "../card-data";

function stat(name: string, value: number, cls: string, text = signed(value)): HTMLTableRowElement {
  const tr = h("tr", `fc-tt-row ${cls}`);
  const td = h("td", "fc-tt-num", text);
  td.dataset.value = String(value);
  tr.append(h("th", "", name), td);
  return tr;
}

function effects(data: CardData, hrow: number, side: "top" | "bottom"): HTMLTableElement {
  const hv = data.hover;
  const t = h("table", `fc-tt-effects fc-tt-${side}`);
  t.append(h("caption", "", side === "top" ? "log-prob raised" : "log-prob lowered"));
  if (!hv) return t;
  const toks = side === "top" ? hv.topTokens : hv.bottomTokens;
  const vals = side === "top" ? hv.topValues : hv.bottomValues;
  const body = h("tbody", "");
  for (let j = 0; j < hv.k; j++) {
    const v = toks[hrow * hv.k + j] ?? 0;
    const val = vals[hrow * hv.k + j] ?? Number.NaN;
    const tr = h("tr", "");
    const tok = h("td", "fc-tt-tok");
    fillToken(tok, data.vocab.text(v));
    const num = h("td", "fc-tt-num", signed(val));
    num.dataset.value = String(val);
    tr.append(tok, num);
    body.append(tr);
  }
  t.append(body);
  return t;
}

export function hoverContent(data: CardData, seq: SeqData, i: number): HTMLElement {
  const root = h("div", "fc-tt");
  const v = seq.vocab[i] ?? 0;
  const text = seq.tokens[i] ?? "";
  const head = h("div", "fc-tt-head");
  const tok = h("span", "fc-tt-token");
  fillToken(tok, text === "" ? data.vocab.text(v) : text);
  const id = data.vocabIds[v] ?? -1;
  const idEl = h("span", "fc-tt-id", `token ${id}`);
  idEl.dataset.value = String(id);
  head.append(tok, idEl);
  const pos = h("div", "fc-tt-pos", `dataset row ${seq.row}, position ${seq.pos0 + i}`);
  pos.dataset.row = String(seq.row);
  pos.dataset.pos = String(seq.pos0 + i);
  root.append(head, pos);

  const stats = h("table", "fc-tt-stats");
  const act = seq.acts[i] ?? Number.NaN;
  stats.append(stat("activation", act, "fc-tt-act", fmt(act)));
  const logit = data.logits?.vocabValues[v];
  if (logit !== undefined && Number.isFinite(logit)) {
    stats.append(stat("direct logit of this token", logit, "fc-tt-logit"));
  }
  const hv = data.hover;
  const t = seq.start + i;
  const hrow = hv ? (hv.tokenRow[t] ?? -1) : -1;
  if (hv && i > 0) {
    const prev = hv.tokenRow[t - 1] ?? -1;
    const got = prev >= 0 ? (hv.loss[prev] ?? Number.NaN) : Number.NaN;
    if (Number.isFinite(got))
      stats.append(stat("loss change here (from previous token)", got, "fc-tt-loss-in"));
  }
  if (hv && hrow >= 0) {
    const next = seq.tokens[i + 1];
    const name =
      next !== undefined
        ? `loss change on next token ${quoteToken(next)}`
        : "loss change on next token";
    stats.append(stat(name, hv.loss[hrow] ?? Number.NaN, "fc-tt-loss"));
  }
  root.append(stats);
  if (hv && hrow >= 0) {
    const eff = h("div", "fc-tt-effect-grid");
    eff.append(effects(data, hrow, "top"), effects(data, hrow, "bottom"));
    root.append(eff);
  } else if (hv && act !== 0 && data.unavailable.hover_rows) {
    root.append(h("div", "fc-tt-note", data.unavailable.hover_rows)); // cut to fit the card's budget
  } else if (hv) {
    root.append(h("div", "fc-tt-note", "the unit is silent here: no effect on the next token"));
  } else if (data.unavailable.hover) {
    root.append(h("div", "fc-tt-note", data.unavailable.hover));
  }
  return root;
}

/** The tooltip of token `i` of a widened row that the card itself does not show. */
export function windowHoverContent(win: WindowData, i: number): HTMLElement {
  const root = h("div", "fc-tt");
  const v = win.vocab[i] ?? 0;
  const head = h("div", "fc-tt-head");
  const tok = h("span", "fc-tt-token");
  fillToken(tok, win.tokens[i] || win.text.text(v));
  const id = win.ids[v] ?? -1;
  const idEl = h("span", "fc-tt-id", `token ${id}`);
  idEl.dataset.value = String(id);
  head.append(tok, idEl);
  const pos = h("div", "fc-tt-pos", `dataset row ${win.row}, position ${win.start + i}`);
  pos.dataset.row = String(win.row);
  pos.dataset.pos = String(win.start + i);
  const stats = h("table", "fc-tt-stats");
  const act = win.acts[i] ?? Number.NaN;
  stats.append(stat("activation", act, "fc-tt-act", fmt(act)));
  const note = "outside the card's ±5 tokens: its effect on the next token is not computed";
  root.append(head, pos, stats, h("div", "fc-tt-note", note));
  return root;
}
