/**
 * The RPC channel on its own: two ends wired back to back (as the host and the webview or the engine process are),
 * replies for every request also when the handler throws, timeouts, disposal, typed events, malformed input.
 */
import * as assert from 'assert';
import { VarScopeError } from '../../../src/shared/errors';
import { RpcChannel, type RpcMessage, type Side } from '../../../src/shared/rpc';

interface ServerApi {
  double(params: { x: number }): Promise<number>;
  fail(params: { code: 'BadImage' | 'plain' }): Promise<void>;
  slow(params: { ms: number }): Promise<string>;
}
interface ServerEvents {
  tick: { n: number };
  done: { ok: boolean };
}
interface ClientEvents {
  hello: { name: string };
}
type ServerSide = Side<ServerApi, ServerEvents>;
type ClientSide = Side<Record<never, never>, ClientEvents>;

/** A client and a server channel whose `send` delivers to the other end (asynchronously, as postMessage does). */
function pair(opts: { timeoutMs?: number; slowMs?: number } = {}) {
  const wire: RpcMessage[] = [];
  // eslint-disable-next-line prefer-const
  let server: RpcChannel<ClientSide, ServerSide>;
  const client = new RpcChannel<ServerSide, ClientSide>(
    (m) => {
      wire.push(m);
      queueMicrotask(() => server.receive(structuredClone(m)));
    },
    {},
    opts.timeoutMs ?? 0,
  );
  server = new RpcChannel<ClientSide, ServerSide>(
    (m) => {
      wire.push(m);
      queueMicrotask(() => client.receive(structuredClone(m)));
    },
    {
      double: async ({ x }) => 2 * x,
      fail: async ({ code }) => {
        if (code === 'plain') throw new Error('plain failure');
        throw new VarScopeError(code, 'not an image', 'detail for the log');
      },
      slow: ({ ms }) => new Promise((r) => setTimeout(() => r(`after ${ms} ms`), ms)),
    },
  );
  return { client, server, wire };
}

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

describe('RpcChannel', () => {
  it('answers a call with the handler result, and ids keep concurrent calls apart', async () => {
    const { client, wire } = pair();
    const results = await Promise.all([1, 2, 3].map((x) => client.call('double', { x })));
    assert.deepStrictEqual(results, [2, 4, 6]);
    const requests = wire.filter((m) => m.kind === 'request');
    assert.deepStrictEqual(
      requests.map((m) => (m.kind === 'request' ? m.id : -1)),
      [1, 2, 3],
    );
    assert.strictEqual(client.pendingCount, 0);
  });

  it('replies with the error when the handler throws: a VarScopeError keeps its code, anything else is Internal', async () => {
    const { client, wire } = pair();
    await assert.rejects(client.call('fail', { code: 'BadImage' }), (e: unknown) => {
      assert.ok(e instanceof VarScopeError);
      assert.strictEqual(e.code, 'BadImage');
      assert.strictEqual(e.message, 'not an image');
      assert.strictEqual(e.detail, 'detail for the log');
      return true;
    });
    await assert.rejects(
      client.call('fail', { code: 'plain' }),
      (e: unknown) => e instanceof VarScopeError && e.code === 'Internal' && e.message === 'plain failure',
    );
    assert.strictEqual(wire.filter((m) => m.kind === 'reply').length, 2);
  });

  it('answers a method the side does not serve with BadRequest', async () => {
    const { server, client } = pair();
    // The server's channel calls the client, which serves nothing.
    const asClient = server as unknown as RpcChannel<ServerSide>;
    await assert.rejects(
      asClient.call('double', { x: 1 }),
      (e: unknown) => e instanceof VarScopeError && e.code === 'BadRequest' && /unknown method double/.test(e.message),
    );
    // Names every object has are not methods either.
    // A method named 'constructor' is the point of this test.
    // eslint-disable-next-line @typescript-eslint/no-misused-new
    type ObjectNames = { toString(p: unknown): Promise<string>; constructor(p: unknown): Promise<unknown> };
    const asAny = client as unknown as RpcChannel<Side<ObjectNames>>;
    await assert.rejects(
      asAny.call('toString', {}),
      (e: unknown) => e instanceof VarScopeError && e.code === 'BadRequest' && /unknown method toString/.test(e.message),
    );
    await assert.rejects(asAny.call('constructor', {}), (e: unknown) => e instanceof VarScopeError && e.code === 'BadRequest');
    assert.strictEqual(client.pendingCount, 0);
  });

  it('rejects a call that outlives its timeout with Timeout, and drops the late reply', async () => {
    const { client } = pair({ timeoutMs: 20 });
    await assert.rejects(
      client.call('slow', { ms: 80 }),
      (e: unknown) => e instanceof VarScopeError && e.code === 'Timeout' && /slow did not answer within 20 ms/.test(e.message),
    );
    assert.strictEqual(client.pendingCount, 0);
    await tick(100); // the reply arrives after the timeout: nothing to settle, nothing thrown
    assert.strictEqual(await client.call('double', { x: 5 }, 0), 10);
  });

  it('rejects pending calls on dispose with the reason, and later calls at once', async () => {
    const { client } = pair();
    const pending = client.call('slow', { ms: 50 });
    client.dispose(new VarScopeError('EngineCrashed', 'process stopped'));
    await assert.rejects(
      pending,
      (e: unknown) => e instanceof VarScopeError && e.code === 'EngineCrashed' && e.message === 'process stopped',
    );
    await assert.rejects(client.call('double', { x: 1 }), (e: unknown) => e instanceof VarScopeError && e.code === 'Cancelled');
    assert.strictEqual(client.pendingCount, 0);
  });

  it('rejectPending rejects what is in flight but stays usable', async () => {
    const { client } = pair();
    const pending = client.call('slow', { ms: 50 });
    assert.strictEqual(client.pendingCount, 1);
    client.rejectPending(new VarScopeError('EngineCrashed', 'restarted'));
    await assert.rejects(pending, (e: unknown) => e instanceof VarScopeError && e.code === 'EngineCrashed');
    assert.strictEqual(await client.call('double', { x: 21 }), 42);
  });

  it('a send that throws rejects the call instead of leaving it pending', async () => {
    const client = new RpcChannel<ServerSide>(() => {
      throw new VarScopeError('EngineCrashed', 'engine process is not running');
    });
    await assert.rejects(client.call('double', { x: 1 }), (e: unknown) => e instanceof VarScopeError && e.code === 'EngineCrashed');
    assert.strictEqual(client.pendingCount, 0);
  });

  it('delivers events to the listeners of their name, in both directions, until unsubscribed', async () => {
    const { client, server } = pair();
    const ticks: number[] = [];
    const dones: boolean[] = [];
    const off = client.on('tick', (p) => ticks.push(p.n));
    client.on('done', (p) => dones.push(p.ok));
    const hellos: string[] = [];
    server.on('hello', (p) => hellos.push(p.name));
    server.emit('tick', { n: 1 });
    server.emit('tick', { n: 2 });
    client.emit('hello', { name: 'webview' });
    await tick();
    off();
    server.emit('tick', { n: 3 });
    server.emit('done', { ok: true });
    await tick();
    assert.deepStrictEqual(ticks, [1, 2]);
    assert.deepStrictEqual(dones, [true]);
    assert.deepStrictEqual(hellos, ['webview']);
  });

  it('ignores messages that are not envelopes, and sends nothing after dispose', async () => {
    const { client, server, wire } = pair();
    const seen: number[] = [];
    client.on('tick', (p) => seen.push(p.n));
    for (const m of [
      null,
      42,
      'x',
      {},
      { kind: 'event' },
      { kind: 'reply' },
      { kind: 'request', id: '1', method: 'double' },
      { kind: 'other', id: 1 },
    ])
      client.receive(m);
    client.receive({ kind: 'reply', id: 999, ok: 1 }); // a reply to nothing pending
    client.receive({ kind: 'event', name: 'tick', payload: { n: 7 } });
    assert.deepStrictEqual(seen, [7]);
    server.dispose();
    const before = wire.length;
    server.emit('tick', { n: 8 });
    server.receive({ kind: 'request', id: 1, method: 'double', params: { x: 1 } });
    await tick();
    assert.strictEqual(wire.length, before);
  });
});
