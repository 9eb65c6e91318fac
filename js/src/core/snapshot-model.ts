/**
 * The model of an exported page (../standalone.ts, ./export-page.ts): anywidget's model interface
 * over the states the file holds, with no kernel behind it. It answers the views' requests
 * (./requests) itself, as far as a file can:
 *
 * - `show` {source, feature}: shows that feature's state when the file holds it (the card's
 *   selector switches among its `choices`), and refuses with an error naming the features it
 *   holds when not;
 * - `target` and `threshold` (the graph): set, since the graph walks its routes and filters its
 *   edges itself;
 * - `select` {} closes the open card;
 * - anything else (a new table, another card, a search) needs a kernel, and is refused.
 *
 * It reports `live: false` (unless the file's values say otherwise), so a view knows it has no
 * kernel: a card inside an exported graph or table disables search and random with the reason.
 *
 * A refusal sets `error` and replies `ok: false`, as the kernel does. Listeners get the new value
 * (`change:<key>`), as Backbone's do; replies come as `msg:custom`, after the changes.
 */
import { Events } from "./events";
import { isRequest, type Outcome } from "./requests";

/** What python/featurecard/core/export.py writes into the page's JSON script. */
export interface ExportData {
  states: Array<{ feature?: unknown } & Record<string, unknown>>;
  values?: Record<string, unknown>; // the view's other traitlets, as they were
}

export class SnapshotModel extends Events {
  readonly values: Record<string, unknown>;

  constructor(
    readonly states: ExportData["states"],
    extra: Record<string, unknown>,
  ) {
    super();
    this.values = {
      feature: states[0]?.feature,
      state: states[0],
      error: "",
      busy: false,
      live: false,
      ...extra,
    };
  }

  get(k: string): unknown {
    return this.values[k];
  }

  set(k: string, v: unknown): void {
    this.values[k] = v;
    this.emit(`change:${k}`, v);
    if (k === "feature") this.showFeature(v);
  }

  /** Shows the state of `feature` when the file holds it; an error naming those it holds when not. */
  private showFeature(v: unknown): boolean {
    const s = this.states.find((x) => x.feature === v);
    if (s) {
      this.values.state = s;
      this.values.error = "";
      this.emit("change:state", s);
    } else {
      const have = this.states.map((x) => x.feature).join(", ");
      this.values.error = `feature ${v} is not in this exported file; it holds: ${have}`;
    }
    this.emit("change:error", this.values.error);
    return s !== undefined;
  }

  save_changes(): void {}

  /** A request from the view: answered here (see the module docs), the reply sent as `msg:custom`. */
  send(content?: unknown): void {
    if (!isRequest(content)) return;
    const answer = this.answer(content.name, content.args ?? {});
    if (!answer.ok) this.change("error", answer.error);
    const reply = this.replier(content.id);
    queueMicrotask(() => reply(answer));
  }

  private answer(name: string, args: Record<string, unknown>): Outcome {
    if (name === "show") {
      const { source, feature } = args;
      const held = this.values.source;
      if (source !== undefined && held !== undefined && source !== held) {
        return { ok: false, error: `${source} is not in this exported file; it holds ${held}` };
      }
      const holds = this.states.some((x) => x.feature === feature);
      if (holds && this.values.feature !== feature) {
        this.values.feature = feature;
        this.emit("change:feature", feature);
      }
      if (!this.showFeature(feature)) return { ok: false, error: String(this.values.error) };
      return { ok: true, result: { source: held, feature } };
    }
    if ((name === "target" || name === "threshold") && typeof args[name] === "number") {
      this.change(name, args[name]);
      return { ok: true, result: { [name]: args[name] } };
    }
    if (name === "select" && Object.keys(args).length === 0) {
      this.change("selected", {});
      this.change("card", {});
      return { ok: true, result: { selected: {} } };
    }
    return { ok: false, error: `${name}: an exported file has no kernel to compute this` };
  }

  private change(k: string, v: unknown): void {
    this.values[k] = v;
    this.emit(`change:${k}`, v);
  }
}
