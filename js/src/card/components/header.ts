/**
 * The card's header: source, unit kind, hook and index, the density and max activation, and
 * under the title the latent's label (the Workspace's labels, `ws.label(name, feature, text)`).
 *
 * The label is text from the user: it reaches the page through textContent only. With a kernel
 * (`edit` given) an "edit" button opens a field in place: Enter or "save" sends the text (the
 * `label` request), Escape or "cancel" closes it; while the request is out the field is
 * disabled, a refusal is reported through `fail` and the field stays open with the text typed.
 * The kernel answers with a new card state carrying the label, which redraws the header.
 * Without a kernel (an exported file) the button is disabled and says why. A unit without
 * labels (a neuron, a latent of encoder B: `label` null) shows no label line.
 */
import { fmt, h, percent } from "../../core/dom";
import type { CardHeader } from "../card-data";

/** The most characters a label holds (python: overview/labels.py MAX_LABEL). */
export const MAX_LABEL = 2000;

export const OFFLINE_LABEL = "setting a label needs a running kernel";

/** "feature 5 / 48", or for a neuron "neuron 101 / 512 of blocks.0.mlp.hook_post". */
export function unitTitle(hd: CardHeader): string {
  if (hd.unit === "neuron") return `neuron ${hd.feature} / ${hd.n_features} of ${hd.hook_name}`;
  return `feature ${hd.feature} / ${hd.n_features}`;
}

/** What the label line needs: the label, and how to set it (absent: no kernel). */
export interface LabelHost {
  label: string | null;
  edit?: ((text: string) => Promise<unknown>) | undefined;
  fail(message: string): void;
}

function editor(line: HTMLElement, host: LabelHost, edit: (text: string) => Promise<unknown>) {
  const input = h("input", "fc-label-input");
  input.type = "text";
  input.maxLength = MAX_LABEL;
  input.value = host.label ?? "";
  input.setAttribute("aria-label", "label of this latent");
  const save = h("button", "fc-label-save", "save");
  const cancel = h("button", "fc-label-cancel", "cancel");
  const shown = Array.from(line.childNodes);
  const close = () => line.replaceChildren(...shown);
  const send = () => {
    [input.disabled, save.disabled] = [true, true];
    edit(input.value).then(
      () => close(),
      (e: unknown) => {
        [input.disabled, save.disabled] = [false, false];
        host.fail(`label: ${e instanceof Error ? e.message : String(e)}`);
      },
    );
  };
  save.addEventListener("click", send);
  cancel.addEventListener("click", close);
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") send();
    else if (e.key === "Escape") close();
    else return;
    e.preventDefault();
    e.stopPropagation();
  });
  line.replaceChildren(input, save, cancel);
  input.focus();
}

/** The label line (null for a unit without labels). */
export function renderLabel(host: LabelHost): HTMLElement | null {
  if (host.label === null) return null;
  const line = h("div", "fc-label");
  const text = h("span", host.label ? "fc-label-text" : "fc-label-text fc-label-none");
  text.textContent = host.label || "no label";
  const button = h("button", "fc-label-edit", host.label ? "edit label" : "add label");
  const edit = host.edit;
  if (edit) button.addEventListener("click", () => editor(line, host, edit));
  else {
    button.disabled = true;
    button.title = OFFLINE_LABEL;
  }
  line.append(text, button);
  return line;
}

export function renderHeader(hd: CardHeader, label: LabelHost): HTMLElement {
  const header = h("div", "fc-header");
  const title = h("div", "fc-title");
  title.append(
    h("span", "fc-source", hd.source),
    h("span", "fc-unit", hd.unit),
    h("span", "fc-hook", hd.hook_name),
    h("span", "fc-feature", unitTitle(hd)),
  );
  const stats = h("div", "fc-stats");
  const density = h("span", "fc-density", `density ${percent(hd.density)}`);
  density.title = `nonzero on ${percent(hd.density)} of ${hd.n_tokens} tokens`;
  stats.append(density, h("span", "fc-max", `max act ${fmt(hd.max_act)}`));
  const line = renderLabel(label);
  header.append(title, ...(line ? [line] : []), stats);
  return header;
}
