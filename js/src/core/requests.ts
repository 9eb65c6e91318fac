/**
 * The one way the three views ask the kernel for anything: requests over anywidget's plain
 * custom messages (no `experimental.invoke`, so any anywidget host works, marimo included).
 *
 * A request is `{kind: "fc-request", id, name, args}`; the kernel answers exactly once with
 * `{kind: "fc-reply", id, ok, result | error}` (python/featurecard/core/view.py, `@request`
 * handlers). Each request gets a fresh id; the promise resolves with `result`, or rejects with
 * the kernel's error, with a timeout error when no reply comes in time (a busy or dead
 * kernel; each request may set its own), or when the view is closed. Replies with unknown ids
 * (another view's, a late one) are ignored. The front end never writes a trait: it asks, the
 * kernel validates, computes and sets the traits, and the view redraws from them.
 *
 * `createAsker` is what the adapters use: while a request is in flight the view shows what was
 * asked for (the index box on the asked feature, the slider on the asked threshold), and once
 * the reply comes it shows the traits again, so a refused request puts the view back on what
 * is shown; a failure the kernel could not report in `error` (a timeout) is shown instead.
 */
import type { Reply, Request } from "./schema";

export const REQUEST_TIMEOUT_MS = 20_000;

/** What a requester needs of a model: anywidget's custom messages. */
export interface MessageModel {
  send(content: unknown): void;
  on(eventName: "msg:custom", callback: (msg: unknown) => void): void;
  off(eventName: "msg:custom", callback: (msg: unknown) => void): void;
}

export interface Requester {
  request<T>(name: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  pending(): number;
  dispose(): void;
}

interface Waiting {
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

let counter = 0;

export function isReply(x: unknown): x is Reply {
  return typeof x === "object" && x !== null && (x as { kind?: unknown }).kind === "fc-reply";
}

export function isRequest(x: unknown): x is Request {
  return typeof x === "object" && x !== null && (x as { kind?: unknown }).kind === "fc-request";
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function createRequester(model: MessageModel): Requester {
  const waiting = new Map<string, Waiting>();
  const onMessage = (msg: unknown) => {
    if (!isReply(msg) || typeof msg.id !== "string") return;
    const w = waiting.get(msg.id);
    if (!w) return;
    waiting.delete(msg.id);
    clearTimeout(w.timer);
    if (msg.ok) w.resolve(msg.result);
    else w.reject(new Error(msg.error || "the kernel could not answer the request"));
  };
  model.on("msg:custom", onMessage);
  let closed = false;
  return {
    request<T>(name: string, args: Record<string, unknown> = {}, timeoutMs = REQUEST_TIMEOUT_MS) {
      if (closed) return Promise.reject(new Error(`${name}: the view is closed`));
      counter += 1;
      const id = `fc-${Date.now().toString(36)}-${counter}`;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`${name}: no reply from the kernel in ${timeoutMs / 1000} s`));
        }, timeoutMs);
        waiting.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
        const req: Request = { kind: "fc-request", id, name, args };
        model.send(req);
      });
    },
    pending: () => waiting.size,
    dispose() {
      closed = true;
      model.off("msg:custom", onMessage);
      for (const w of waiting.values()) {
        clearTimeout(w.timer);
        w.reject(new Error("the view was closed"));
      }
      waiting.clear();
    },
  };
}

/** How a request ended, for callers that pass it on (a card inside another view). */
export type Outcome = { ok: true; result: unknown } | { ok: false; error: string };

export interface Asker<S extends { error: string }> {
  /** Sends request `name`; until its reply the view shows `shows` in place of those traits. */
  ask(
    name: string,
    args: Record<string, unknown>,
    shows?: Partial<S>,
    timeoutMs?: number,
  ): Promise<Outcome>;
  /** `snap` with what is asked for in flight, and the last failure when the kernel's `error` is ''. */
  overlay(snap: S): S;
}

/** The adapters' requester: asked values shown until the reply, then the traits (see the module docs). */
export function createAsker<S extends { error: string }>(
  requests: Requester,
  redraw: () => void,
): Asker<S> {
  let seq = 0;
  let failure = "";
  const asked = new Map<string, { value: unknown; seq: number }>();
  const settle = (mine: number) => {
    for (const [k, v] of asked) if (v.seq === mine) asked.delete(k);
    redraw();
  };
  return {
    ask(name, args, shows = {}, timeoutMs) {
      seq += 1;
      const mine = seq;
      failure = "";
      for (const [k, v] of Object.entries(shows)) asked.set(k, { value: v, seq: mine });
      redraw();
      return requests.request(name, args, timeoutMs).then(
        (result): Outcome => {
          settle(mine);
          return { ok: true, result };
        },
        (e: unknown): Outcome => {
          if (mine === seq) failure = errorText(e);
          settle(mine);
          return { ok: false, error: errorText(e) };
        },
      );
    },
    overlay(snap) {
      const out: Record<string, unknown> = { ...snap };
      for (const [k, v] of asked) out[k] = v.value;
      if (snap.error === "" && failure !== "") out.error = failure;
      return out as S;
    },
  };
}
