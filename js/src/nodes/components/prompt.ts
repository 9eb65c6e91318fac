/**
 * The prompt's tokens above the table, one strip per prompt. Clicking a token asks for the
 * target to move there; hovering a row tints the positions where its node is active (for an
 * attention row: the sources its head attends to from the row's query, which is outlined).
 */
import { actColor, maxAbs, textColor } from "../../core/colors";
import { fmt, h } from "../../core/dom";
import { fillToken, quoteToken } from "../../core/tokens";
import type { RowData, TableData } from "../data";

export interface PromptStrip {
  root: HTMLElement;
  highlight(row: RowData | null): void;
}

export function renderPrompts(
  data: TableData,
  requested: number | null,
  onPosition: (pos: number) => void,
): PromptStrip {
  const root = h("div", "nt-prompts");
  const strips: HTMLElement[][] = [];
  data.prompts.forEach((p, pi) => {
    const line = h("div", "nt-prompt");
    if (data.prompts.length > 1) line.append(h("span", "nt-prompt-label", p.label));
    const spans: HTMLElement[] = [];
    p.tokens.forEach((text, pos) => {
      const span = h("span", "nt-tok");
      fillToken(span, text);
      span.dataset.pos = String(pos);
      span.title = `position ${pos} · token ${quoteToken(text)} · click: predict here`;
      span.setAttribute("role", "button");
      span.tabIndex = pi === 0 ? 0 : -1;
      if (pos === data.target.position) span.classList.add("nt-target");
      if (requested !== null && pos === requested && pos !== data.target.position)
        span.classList.add("nt-pending");
      if (pos > data.target.position) span.classList.add("nt-after");
      span.addEventListener("click", () => onPosition(pos));
      span.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") onPosition(pos);
      });
      spans.push(span);
      line.append(span);
    });
    strips.push(spans);
    root.append(line);
  });

  function highlight(row: RowData | null): void {
    strips.forEach((spans, pi) => {
      const prof = row?.profiles[pi];
      const scale = prof ? maxAbs(prof) : 0;
      spans.forEach((span, pos) => {
        const v = prof ? (prof[pos] ?? 0) : 0;
        span.style.backgroundColor = prof ? actColor(v, scale) : "";
        span.style.color = prof ? textColor(v, scale) : "";
        span.classList.toggle("nt-active", prof !== undefined && v !== 0 && Number.isFinite(v));
        span.classList.toggle(
          "nt-query",
          row !== null &&
            (row.family.kind === "attn" || row.family.kind === "head") &&
            pos === row.pos,
        );
        if (prof) span.dataset.value = fmt(v);
        else delete span.dataset.value;
      });
    });
  }

  return { root, highlight };
}
