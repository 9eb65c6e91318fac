// A stand-in for anywidget's model (the `model` in render({ model, el })), usable from vitest
// (happy-dom) and from a plain browser page. Plain dependency-free JS (an ES module, no build
// step), so a static HTML test page can import it as is.

export class FakeModel {
  /**
   * @param {Record<string, unknown>} state initial traitlet values
   * @param {{ onSave?: (patch: Record<string, unknown>) => void,
   *           onSend?: (content: unknown, buffers?: unknown) => void }} [opts]
   *   onSave: called by save_changes() with the changed keys (a bridge to Python)
   *   onSend: called by send() with each custom message (a bridge to Python)
   */
  constructor(state = {}, opts = {}) {
    /** @type {Record<string, unknown>} */
    this.state = { ...state };
    this.onSave = opts.onSave;
    this.onSend = opts.onSend;
    /** @type {Map<string, Set<(...args: unknown[]) => void>>} */
    this.listeners = new Map();
    /** every payload "sent to Python" by save_changes(), in order */
    this.saved = [];
    /** custom messages sent with model.send() */
    this.sent = [];
    /** @type {Record<string, unknown>} */
    this._dirty = {};
    this.widget_manager = {
      async get_model() {
        throw new Error("FakeModel: widget_manager.get_model is not implemented");
      },
    };
  }

  get(name) {
    return this.state[name];
  }

  /** a change made by the front end, recorded for the next save_changes(); like Backbone,
   * setting the value a trait already has changes nothing and sends nothing */
  set(name, value) {
    if (Object.is(this.state[name], value)) return;
    this.state[name] = value;
    this._dirty[name] = value;
    this._emit(`change:${name}`, value);
    this._emit("change", name);
  }

  save_changes() {
    const patch = { ...this._dirty };
    this.saved.push(patch);
    this._dirty = {};
    this.onSave?.(patch);
  }

  on(event, cb) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event).add(cb);
  }

  off(event, cb) {
    if (!event) {
      this.listeners.clear();
      return;
    }
    if (!cb) {
      this.listeners.delete(event);
      return;
    }
    this.listeners.get(event)?.delete(cb);
  }

  send(content, _callbacks, buffers) {
    this.sent.push({ content, buffers });
    this.onSend?.(content, buffers);
  }

  /** simulate a change coming FROM Python (no save_changes bookkeeping) */
  pythonSet(name, value) {
    this.state[name] = value;
    this._emit(`change:${name}`, value);
    this._emit("change", name);
  }

  /** simulate a custom message from Python (widget.send(...)) */
  pythonSend(content, buffers = []) {
    this._emit("msg:custom", content, buffers);
  }

  /** how many callbacks listen to `event`; with no argument, to any event */
  listenerCount(event) {
    if (event === undefined) {
      let n = 0;
      for (const set of this.listeners.values()) n += set.size;
      return n;
    }
    return this.listeners.get(event)?.size ?? 0;
  }

  _emit(event, ...args) {
    for (const cb of [...(this.listeners.get(event) ?? [])]) cb(...args);
  }
}
