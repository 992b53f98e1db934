/**
 * Entry of the engine child process (dist/engineProcess.js): serves EngineApi over the IPC channel that
 * `fork(..., { serialization: 'advanced' })` opens, so typed arrays cross without copies to JSON.
 */
import type { EngineApi, EngineSide } from '../shared/engineApi';
import { RpcChannel, type RpcMessage, type Side } from '../shared/rpc';
import { Engine } from './engine';

function main(): void {
  const send = process.send?.bind(process);
  if (!send) {
    process.stderr.write('engineProcess must be started by EngineClient (fork with an IPC channel)\n');
    process.exit(2);
  }
  // eslint-disable-next-line prefer-const
  let channel: RpcChannel<Side, EngineSide>;
  const engine = new Engine((name, payload) => channel.emit(name, payload));
  channel = new RpcChannel<Side, EngineSide>((m: RpcMessage) => {
    send(m);
  }, bindAll(engine));
  process.on('message', (m) => channel.receive(m));
  // A terminal's Ctrl-C reaches every process of its group, this one too: the client decides what a Ctrl-C stops
  // (the CLI's evaluate finishes its batch first) and kills this process when the answer is "everything".
  process.on('SIGINT', () => undefined);
  // The parent went away: nothing left to serve.
  process.on('disconnect', () => {
    void engine.dispose().finally(() => process.exit(0));
  });
  channel.emit('log', { level: 'info', message: `engine process ${process.pid} ready` });
}

/**
 * Every EngineApi method, so the compiler notices a method the process would not serve; true: a full GC follows
 * it (collectSoon). Not after a generation step: the collection frees the buffers the next step then faults in
 * again, which made steps through the child process 10-20 ms slower than in process (default model, 8×8 to
 * 13×13); a run's garbage goes with the next collecting request.
 */
const METHODS: Record<keyof EngineApi, boolean> = {
  configure: false,
  openModel: true,
  inspect: true,
  evaluate: true,
  attention: true,
  generationStart: false,
  generationStep: false,
  generationCancel: true,
  generate: true,
  edit: true,
  samplingGrid: true,
  folderUsage: true,
  evaluateFolder: true,
  profile: true,
  trainingUsage: true,
  modelFamily: false,
  inspectBits: true,
  evaluateBits: true,
  cancel: false,
  status: false,
};

function bindAll(engine: Engine): EngineApi {
  const api: Partial<Record<keyof EngineApi, unknown>> = {};
  for (const name of Object.keys(METHODS) as Array<keyof EngineApi>) {
    const fn = (engine[name] as (p: unknown) => Promise<unknown>).bind(engine);
    api[name] = async (p: unknown) => {
      try {
        return await fn(p);
      } finally {
        if (METHODS[name]) collectSoon();
      }
    };
  }
  return api as EngineApi;
}

let gcPending = false;

/**
 * A full GC after a request (those marked in METHODS). NOTE: results hold large typed arrays (decoded images,
 * logits) whose memory lives outside the small V8 heap, so V8 collects them late and the RSS swings by tens of MB
 * between requests; with the heap at a few MB a collection costs milliseconds (the client starts this process with
 * --expose-gc).
 */
function collectSoon(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc || gcPending) return;
  gcPending = true;
  setImmediate(() => {
    gcPending = false;
    gc();
  });
}

main();
