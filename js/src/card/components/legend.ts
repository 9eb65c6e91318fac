/**
 * The key to the examples' marks: the token shading (white at 0 to the full colour at the
 * card's max activation; blue for negative activations when there are any) and, when the card
 * has hover effects, the loss underline (red: the unit raises the next token's loss; blue: it
 * lowers it).
 */
import { actColor, LOSS_DOWN, LOSS_UP } from "../../core/colors";
import { fmt, h } from "../../core/dom";

function swatch(cls: string, background: string): HTMLElement {
  const el = h("span", `fc-swatch ${cls}`);
  el.style.background = background;
  return el;
}

/** The legend of a card whose shading is full at `scale`. */
export function renderLegend(scale: number, negative: boolean, loss: boolean): HTMLElement {
  const root = h("div", "fc-legend");
  const shade = h("span", "fc-legend-shade");
  const ramp = `linear-gradient(to right, ${actColor(0, scale)}, ${actColor(scale, scale)})`;
  shade.append(
    "shading: activation ",
    h("span", "fc-legend-lo", "0"),
    swatch("fc-ramp", `${ramp}, #fff`),
    h("span", "fc-legend-hi", fmt(scale)),
  );
  shade.title = `a token's background: its activation, from 0 (white) to the card's max ${fmt(scale)} (full colour)`;
  root.append(shade);
  if (negative) {
    const neg = h("span", "fc-legend-neg");
    neg.append(swatch("fc-neg", actColor(-scale, scale)), " negative");
    root.append(neg);
  }
  if (loss) {
    const ul = h("span", "fc-legend-loss");
    ul.append(
      "underline: next-token loss ",
      swatch("fc-loss-up", `rgb(${LOSS_UP.join(", ")})`),
      " raised ",
      swatch("fc-loss-down", `rgb(${LOSS_DOWN.join(", ")})`),
      " lowered",
    );
    root.append(ul);
  }
  return root;
}
