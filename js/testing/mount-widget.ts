/**
 * What the views' widget tests share: `mountWidget` renders a view's anywidget module (its
 * default export, `{ render }`, as anywidget loads it) into a fresh element on the page, with a FakeModel holding `values` in place of the comm, and `q`
 * finds one element or fails the test.
 */
import type { AnyModel, Host, RenderProps } from "@anywidget/types";
import { FakeModel } from "./fake-model.js";

/** anywidget's bound on a model's traits (its `ObjectHash`, which it does not export). */
type Traits = RenderProps extends RenderProps<infer H> ? H : never;

export function mountWidget<T extends Traits>(
  widget: { render: (props: RenderProps<T>) => () => void },
  values: T,
) {
  const model = new FakeModel<T>(values);
  const el = document.createElement("div");
  document.body.append(el);
  const controller = new AbortController();
  const cleanup = widget.render({
    model: model as unknown as AnyModel<T>,
    el,
    signal: controller.signal,
    host: {} as Host,
    experimental: { invoke: () => Promise.reject(new Error("no kernel")) },
  });
  return { model, el, cleanup, controller };
}

/** The one element under `el` that matches `sel`; throws (failing the test) when there is none. */
export const q = <T extends Element = HTMLElement>(el: ParentNode, sel: string) => {
  const found = el.querySelector<T>(sel);
  if (!found) throw new Error(`no ${sel}`);
  return found;
};
