/**
 * A row's token dynamics cell: a button that expands (click, Enter or Space) the tokens the
 * row's write promotes and suppresses (through the final norm at its frozen scale and W_U) and,
 * for neurons and latents, the token read or its reason. Tokens are drawn by core/tokens.ts's
 * fillToken: text nodes, never markup.
 */
import { h, signed } from "../../core/dom";
import { fillToken } from "../../core/tokens";
import type { RowDynamics, TokenValue } from "../data";

function tokenList(title: string, items: TokenValue[]): HTMLElement {
  const box = h("div", "nt-dyn-list");
  box.append(h("div", "nt-dyn-title", title));
  const ol = h("ol", "nt-dyn-tokens");
  for (const it of items) {
    const li = h("li", "nt-dyn-item");
    const tok = h("span", "fc-tok nt-dyn-tok");
    fillToken(tok, it.token);
    li.append(tok, h("span", "nt-dyn-val", signed(it.value)));
    ol.append(li);
  }
  box.append(ol);
  return box;
}

/** One prompt's promote / suppress lists (headed by the prompt's label when comparing). */
function promptLists(d: RowDynamics, prompt: number, label: string | null): HTMLElement {
  const box = h("div", "nt-dyn-prompt");
  box.dataset.prompt = String(prompt);
  if (label !== null) box.append(h("div", "nt-dyn-prompt-label", label));
  const up = d.promote[prompt] ?? [];
  const down = d.suppress[prompt] ?? [];
  if (up.length || down.length) {
    box.append(tokenList("promotes", up), tokenList("suppresses", down));
  } else {
    box.append(h("div", "nt-dyn-note", "no write to the residual stream: no promoted tokens"));
  }
  return box;
}

function panel(d: RowDynamics, labels: readonly string[]): HTMLElement {
  const box = h("div", "nt-dyn-panel");
  const n = Math.max(1, d.promote.length);
  for (let p = 0; p < n; p++)
    box.append(promptLists(d, p, n > 1 ? (labels[p] ?? `prompt ${p}`) : null));
  const first = labels.length > 1 && labels[0] ? ` (${labels[0]})` : "";
  if (d.read.length) box.append(tokenList(`token read${first} (${d.readNote})`, d.read));
  else if (d.readNote) box.append(h("div", "nt-dyn-note", `token read: ${d.readNote}`));
  return box;
}

/** The cell; `d` null (no dynamics in the state) gives an empty cell. `labels`: the prompts'
 * labels; with several prompts (a comparison) each prompt's promote / suppress lists are shown
 * under its label (the token read is the first prompt's). */
export function dynamicsCell(
  d: RowDynamics | null,
  name: string,
  labels: readonly string[] = [],
): HTMLElement {
  const td = h("td", "nt-dyn");
  if (!d) return td;
  const b = h("button", "nt-dyn-toggle", "tokens ▸");
  b.type = "button";
  b.title = `the tokens ${name}'s write promotes and suppresses`;
  b.setAttribute("aria-expanded", "false");
  const body = panel(d, labels);
  body.hidden = true;
  const toggle = () => {
    body.hidden = !body.hidden;
    b.setAttribute("aria-expanded", String(!body.hidden));
    b.textContent = body.hidden ? "tokens ▸" : "tokens ▾";
  };
  b.addEventListener("click", toggle);
  b.addEventListener("keydown", (e) => {
    if (e.key !== "Enter" && e.key !== " ") return;
    e.preventDefault(); // no second toggle from the click a browser makes of the key
    toggle();
  });
  td.append(b, body);
  return td;
}
