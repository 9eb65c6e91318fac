/** The unit's direct logit effect: a table of the most positive and one of the most negative,
 * each row's background coloured by its value (orange raises the logit, blue lowers it),
 * relative to its table: the table's largest |value| gets the full colour and its smallest a
 * pale one (colors.ts's rankIntensity), so the rows' gradation shows even when every value is
 * near the largest (the numbers give the values). */

import { actColor, rankIntensity, textColor } from "../../core/colors";
import { fmt, h } from "../../core/dom";
import { fillToken, quoteToken } from "../../core/tokens";
import type { LogitRow, LogitsData } from "../card-data";

function table(cls: string, caption: string, rows: LogitRow[]): HTMLTableElement {
  const t = h("table", `fc-logits-table ${cls}`);
  t.append(h("caption", "", caption));
  const body = h("tbody", "");
  const values = rows.map((r) => r.value);
  for (const r of rows) {
    const tr = h("tr", "");
    tr.dataset.vocab = String(r.vocab);
    const tok = h("td", "fc-logit-tok");
    fillToken(tok, r.token);
    tok.title = quoteToken(r.token);
    const val = h("td", "fc-logit-val", fmt(r.value));
    const shade = Math.sign(r.value) * rankIntensity(r.value, values);
    tr.style.backgroundColor = actColor(shade, 1);
    const fg = textColor(shade, 1);
    if (fg) tr.style.color = fg;
    tr.append(tok, val);
    body.append(tr);
  }
  t.append(body);
  return t;
}

/** Both tables, or the reason they are missing when `logits` is null. */
export function renderLogits(logits: LogitsData | null, unavailable?: string): HTMLElement {
  const root = h("div", "fc-logits");
  if (logits === null) {
    root.append(h("div", "fc-unavailable", unavailable ?? "logit effects are not available"));
    return root;
  }
  root.append(
    table("fc-logits-top", "Positive logits", logits.top),
    table("fc-logits-bottom", "Negative logits", logits.bottom),
  );
  return root;
}
