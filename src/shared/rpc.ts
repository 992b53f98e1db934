/**
 * One RPC channel for every boundary: extension host <-> webview and extension host <-> engine process.
 *
 * Requests are declared once in an API interface (`{ method(params): Promise<result> }`), events in an events
 * interface (`{ name: payload }`); a `Side` pairs the two for one end of a boundary. The channel derives call,
 * result, emit and listener types from the two sides, so no message needs a cast. Every request gets exactly one
 * reply, `{ok}` or `{err}`, also when the handler throws; pending requests are rejected on dispose and on timeout.
 */
import { VarScopeError, type WireError } from './errors';

/** An API: every member is a one-argument async method. Interfaces qualify (the check maps their own keys). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Api<A> = { [M in keyof A]: (params: any) => Promise<unknown> };

/** Nothing: the API of a side that serves no requests, or the events of one that emits none. */
export type Nothing = Record<never, never>;

/** One end of a boundary: the requests it serves and the events it emits. */
export interface Side<A extends Api<A> = Nothing, E = Nothing> {
  api: A;
  events: E;
}

/** The parameter of an API method. */
export type Params<F> = F extends (params: infer P) => unknown ? P : never;

/** What an API method resolves to. */
export type Result<F> = F extends (params: never) => Promise<infer R> ? R : never;

/** Envelopes on the wire. */
export type RpcMessage =
  | { kind: 'request'; id: number; method: string; params: unknown }
  | { kind: 'reply'; id: number; ok?: unknown; err?: WireError }
  | { kind: 'event'; name: string; payload: unknown };

/** Handlers for the requests a side serves. */
export type Handlers<A extends Api<A>> = { [M in keyof A]: (params: Params<A[M]>) => Promise<Result<A[M]>> };

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer?: unknown;
}

/**
 * One end of a channel. `Remote` is the other side (whose API this end calls and whose events it hears), `Local`
 * this side (whose API it serves and whose events it emits). `send` posts a message; feed every received message
 * to `receive`.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export class RpcChannel<Remote extends Side<any, any>, Local extends Side<any, any> = Side> {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly eventListeners = new Map<string, Set<(payload: never) => void>>();
  private disposed = false;

  constructor(
    private readonly send: (message: RpcMessage) => void,
    private readonly handlers: Partial<Handlers<Local['api']>> = {},
    private readonly defaultTimeoutMs = 0,
  ) {}

  /** Call a method of the other side; rejects with a VarScopeError. */
  call<M extends keyof Remote['api'] & string>(
    method: M,
    params: Params<Remote['api'][M]>,
    timeoutMs = this.defaultTimeoutMs,
  ): Promise<Result<Remote['api'][M]>> {
    if (this.disposed) return Promise.reject(new VarScopeError('Cancelled', 'channel closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const p: Pending = { resolve: resolve as (v: unknown) => void, reject };
      if (timeoutMs > 0) {
        p.timer = setTimeout(() => {
          this.pending.delete(id);
          reject(new VarScopeError('Timeout', `${method} did not answer within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.pending.set(id, p);
      try {
        this.send({ kind: 'request', id, method, params });
      } catch (e) {
        this.settle(id, undefined, VarScopeError.toWire(e));
      }
    });
  }

  /** Send a one-way event of this side. */
  emit<E extends keyof Local['events'] & string>(name: E, payload: Local['events'][E]): void {
    if (!this.disposed) this.send({ kind: 'event', name, payload });
  }

  /** Listen to the other side's events of a name; returns an unsubscribe function. */
  on<E extends keyof Remote['events'] & string>(name: E, listener: (payload: Remote['events'][E]) => void): () => void {
    let set = this.eventListeners.get(name);
    if (!set) this.eventListeners.set(name, (set = new Set()));
    set.add(listener);
    return () => set!.delete(listener);
  }

  /** Feed one received message. Unknown shapes are ignored (they are not ours). */
  receive(message: unknown): void {
    if (this.disposed || !isRpcMessage(message)) return;
    switch (message.kind) {
      case 'reply':
        this.settle(message.id, message.ok, message.err);
        return;
      case 'event':
        // The payload has the listener's type: the sending side's channel typed it when it emitted.
        this.eventListeners.get(message.name)?.forEach((l) => l(message.payload as never));
        return;
      case 'request':
        void this.serve(message.id, message.method, message.params);
        return;
      default: {
        const never: never = message;
        return never;
      }
    }
  }

  /** Reject every pending call; later calls reject at once. */
  dispose(reason: VarScopeError = new VarScopeError('Cancelled', 'channel closed')): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const [, p] of this.pending) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(reason);
    }
    this.pending.clear();
    this.eventListeners.clear();
  }

  /** Reject every pending call with `reason` but stay usable (e.g. the engine process restarted). */
  rejectPending(reason: VarScopeError): void {
    for (const [id, p] of this.pending) {
      if (p.timer) clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(reason);
    }
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  private settle(id: number, ok: unknown, err: WireError | undefined): void {
    const p = this.pending.get(id);
    if (!p) return; // stale reply (timed out or rejected already)
    this.pending.delete(id);
    if (p.timer) clearTimeout(p.timer);
    if (err) p.reject(VarScopeError.fromWire(err));
    else p.resolve(ok);
  }

  private async serve(id: number, method: string, params: unknown): Promise<void> {
    // Own keys only: a request for `toString` or `constructor` is not one of the API's methods.
    const handler = Object.hasOwn(this.handlers, method)
      ? (this.handlers as Record<string, (p: unknown) => Promise<unknown>>)[method]
      : undefined;
    let reply: RpcMessage;
    if (!handler) {
      reply = { kind: 'reply', id, err: { code: 'BadRequest', message: `unknown method ${method}` } };
    } else {
      try {
        reply = { kind: 'reply', id, ok: await handler(params) };
      } catch (e) {
        reply = { kind: 'reply', id, err: VarScopeError.toWire(e) };
      }
    }
    if (this.disposed) return;
    try {
      this.send(reply);
    } catch {
      // the other side is gone; nothing to tell
    }
  }
}

function isRpcMessage(m: unknown): m is RpcMessage {
  if (typeof m !== 'object' || m === null) return false;
  const k = (m as { kind?: unknown }).kind;
  if (k === 'request') return typeof (m as { id?: unknown }).id === 'number' && typeof (m as { method?: unknown }).method === 'string';
  if (k === 'reply') return typeof (m as { id?: unknown }).id === 'number';
  if (k === 'event') return typeof (m as { name?: unknown }).name === 'string';
  return false;
}
