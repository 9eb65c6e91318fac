/**
 * The event half of anywidget's model interface (`on`, `off`, and what the stand-in models
 * announce with `emit`), shared by the models that are not a kernel's: the card inside another
 * view (./memory-model), an exported page's (./snapshot-model) and the node table inside the
 * graph (../nodes/mount). Also how such a model answers a request as a kernel would.
 */
import type { Outcome } from "./requests";
import type { Reply } from "./schema";

export type Listener = (...args: unknown[]) => void;

/** Listeners by event name: `change:<trait>` and `msg:custom`. */
export class Events {
  readonly listeners = new Map<string, Set<Listener>>();

  on(event: string, cb: Listener): void {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event)?.add(cb);
  }

  off(event?: string | null, cb?: Listener | null): void {
    if (!event) this.listeners.clear();
    else if (!cb) this.listeners.delete(event);
    else this.listeners.get(event)?.delete(cb);
  }

  /** How many listeners are attached (a view taken down leaves none). */
  listenerCount(): number {
    let n = 0;
    for (const s of this.listeners.values()) n += s.size;
    return n;
  }

  emit(event: string, ...args: unknown[]): void {
    for (const cb of [...(this.listeners.get(event) ?? [])]) cb(...args);
  }

  /** What replies to request `id`: the outcome as the kernel's `fc-reply` message. */
  replier(id: string): (o: Outcome) => void {
    return (o) => {
      const msg: Reply = o.ok
        ? { kind: "fc-reply", id, ok: true, result: o.result }
        : { kind: "fc-reply", id, ok: false, error: o.error };
      this.emit("msg:custom", msg);
    };
  }
}
