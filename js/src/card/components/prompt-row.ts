/**
 * The prompt a card was opened from (the prompt view), drawn above its examples as one example
 * row is: each token shaded by the unit's activation there, the token it was opened from marked
 * (.fc-focus), the largest activation marked (.fc-tok-max). No hover effects: the prompt is not
 * in the dataset the card's effects come from. For an SAE on an attention output a second row
 * shades each source token up to the focus by its DFA (its share of the unit's pre-activation
 * there, through every head's pattern and values).
 */
import { maxAbs } from "../../core/colors";
import { h } from "../../core/dom";
import type { CardPromptData } from "../prompt-data";
import { renderRow } from "./sequence";

/** The colour scale of the prompt row: the card's, widened to the prompt's largest |activation|. */
export function promptScale(prompt: CardPromptData, cardScale: number): number {
  return Math.max(cardScale, maxAbs(prompt.acts));
}

/** The section "Prompt" with the prompt's row; its tokens carry `data-w` (their position). */
export function renderPromptRow(prompt: CardPromptData, cardScale: number): HTMLElement {
  const section = h("section", "fc-group fc-prompt");
  section.append(h("h4", "fc-group-title", "Prompt (the unit's activation at each token)"));
  const row = renderRow(
    {
      tokens: prompt.tokens,
      focus: prompt.focus,
      act: (i) => prompt.acts[i] ?? Number.NaN,
      bytes: (i) => prompt.vocabText.bytes(prompt.vocab[i] ?? 0),
      flat: () => null,
    },
    promptScale(prompt, cardScale),
    null,
  );
  row.classList.add("fc-prompt-row");
  section.append(row);
  const dfa = prompt.dfa;
  if (dfa) {
    section.append(
      h(
        "h4",
        "fc-group-title",
        `DFA at token ${prompt.focus}: each source token's share of the pre-activation`,
      ),
    );
    const sources = prompt.tokens.slice(0, prompt.focus + 1);
    const dfaRow = renderRow(
      {
        tokens: sources,
        focus: prompt.focus,
        act: (i) => dfa[i] ?? Number.NaN,
        bytes: (i) => prompt.vocabText.bytes(prompt.vocab[i] ?? 0),
        flat: () => null,
      },
      maxAbs(dfa),
      null,
    );
    dfaRow.classList.add("fc-prompt-dfa");
    section.append(dfaRow);
  }
  return section;
}
