/**
 * Requests from the front end to the kernel over custom messages (anywidget-style).
 *
 * A request is `{kind: "fc-request", id, name, args}`; the kernel answers exactly once with
 * `{kind: "fc-reply", id, ok, result | error}` (python/featurecard/card/widget.py). Each request gets a
 * fresh id; the promise resolves with `result`, or rejects with the kernel's error, with a
 * timeout error when no reply comes in time (a busy or dead kernel), or when the view is
 * closed. Replies with unknown ids (another view's, a late one) are ignored.
 */
import type { AnyModel } from "@anywidget/types";
import type { CardModel, Reply, Request } from "./schema";

export const REQUEST_TIMEOUT_MS = 20_000;

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

function isReply(x: unknown): x is Reply {
  return typeof x === "object" && x !== null && (x as { kind?: unknown }).kind === "fc-reply";
}

export function createRequester(model: AnyModel<CardModel>): Requester {
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
