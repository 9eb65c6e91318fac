/**
 * The nodes mount: the one module of nodes/ that another view imports (the graph's "trace from
 * here" opens a NodeTable below it; js/tools/architecture.ts lists it as NODES_MOUNT). Importing
 * it brings the table's styles (./nodes.css, through ./widget) into the host's bundle.
 *
 * The table is drawn by the NodeTable widget's own `render`, given a stand-in model
 * (`TableProxy`) whose traits come from the host's `nodes` trait (the traced table's synced
 * traits, python/featurecard/graph/widget.py). The table asks through the one request protocol
 * (../core/requests) as it would its own kernel: the proxy passes each request to `forward`,
 * which sends it to the host's kernel (the graph's `nodes` request, `{request, args}`), and
 * replies with the host's outcome, so the table's trace, back, position, ablations and card all
 * work inline. Without `forward` (an exported file: no kernel) the proxy reports `live: false`,
 * so the table disables its actions with the reason, and refuses any request that still comes.
 */
import type { AnyModel, RenderProps } from "@anywidget/types";
import { Events } from "../core/events";
import { isRequest, type Outcome } from "../core/requests";
import type { NodesModel } from "./schema";
import nodesWidget from "./widget";

/** How the proxy's requests reach a kernel: the host's request carrying them. */
export type Forward = (name: string, args: Record<string, unknown>) => Promise<Outcome>;

/** Why a table inside an exported view cannot ask for anything. */
export const TABLE_NEEDS_KERNEL = "needs a running kernel";

/** anywidget's model interface over the host's `nodes` trait; requests go to `forward`. */
export class TableProxy extends Events {
  private values: Record<string, unknown> = {};
  readonly widget_manager = {
    get_model: async (): Promise<never> => {
      throw new Error("featurecard: a table inside another view has no widget manager");
    },
  };

  constructor(private readonly forward?: Forward) {
    super();
  }

  get(key: string): unknown {
    return key === "live" ? this.forward !== undefined : this.values[key];
  }

  set(): void {} // the front end writes no trait

  save_changes(): void {}

  /** A request of the table: passed on, its outcome replied as the kernel's would be. */
  send(content: unknown): void {
    if (!isRequest(content)) return;
    const { id, name, args } = content;
    const reply = this.replier(id);
    if (this.forward) void this.forward(name, args).then(reply);
    else queueMicrotask(() => reply({ ok: false, error: `${name}: ${TABLE_NEEDS_KERNEL}` }));
  }

  /** The host's `nodes` trait (the table's traits, or {}): each changed trait is announced. */
  update(nodes: unknown): void {
    const next = (typeof nodes === "object" && nodes !== null ? nodes : {}) as Record<
      string,
      unknown
    >;
    const changed = [...new Set([...Object.keys(this.values), ...Object.keys(next)])].filter(
      (k) => !Object.is(this.values[k], next[k]),
    );
    this.values = { ...next };
    for (const k of changed) this.emit(`change:${k}`);
  }
}

/** A table drawn inside another view: feed it the host's `nodes` trait; take it down once. */
export interface InlineTable {
  update(nodes: unknown): void;
  destroy(): void;
}

/** Draws the NodeTable into `el`, fed by `update`, its requests sent through `forward`. */
export function mountNodes(
  el: HTMLElement,
  forward: Forward | undefined,
  { host, experimental }: Pick<RenderProps, "host" | "experimental">,
): InlineTable {
  const proxy = new TableProxy(forward);
  const controller = new AbortController();
  nodesWidget.render({
    model: proxy as unknown as AnyModel<NodesModel>,
    el,
    signal: controller.signal,
    host,
    experimental,
  });
  return { update: (nodes) => proxy.update(nodes), destroy: () => controller.abort() };
}
