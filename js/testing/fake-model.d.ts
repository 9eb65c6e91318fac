type Callback = (...args: never[]) => void;

export declare class FakeModel<T extends object = Record<string, unknown>> {
  constructor(
    state?: Partial<T>,
    opts?: {
      onSave?: (patch: Partial<T>) => void;
      onSend?: (content: unknown, buffers?: unknown) => void;
    },
  );
  onSave?: (patch: Partial<T>) => void;
  onSend?: (content: unknown, buffers?: unknown) => void;
  state: T;
  saved: Array<Partial<T>>;
  sent: Array<{ content: unknown; buffers?: unknown }>;
  widget_manager: { get_model(id: string): Promise<unknown> };
  get<K extends keyof T>(name: K): T[K];
  set<K extends keyof T>(name: K, value: T[K]): void;
  save_changes(): void;
  on(event: string, cb: Callback): void;
  off(event?: string | null, cb?: Callback | null): void;
  send(content: unknown, callbacks?: unknown, buffers?: unknown): void;
  pythonSet<K extends keyof T>(name: K, value: T[K]): void;
  pythonSend(content: unknown, buffers?: unknown[]): void;
  listenerCount(event?: string): number;
}
