/**
 * A worker thread of a GraphPool: opens one graph on the CPU with one intra-op thread and runs what the pool
 * sends, in the order sent (onnxruntime-node runs them one at a time on this thread).
 */
import { parentPort, workerData } from 'worker_threads';
import { VarScopeError } from '../../shared/errors';
import type { FromGraphWorker, Graph, GraphWorkerData, ToGraphWorker } from './graph';
import { OnnxRuntime } from './onnxRuntime';
import { ownBuffers } from './tensor';

const port = parentPort!;
const { file, role } = workerData as GraphWorkerData;

function send(msg: FromGraphWorker): void {
  const buffers = msg.kind === 'result' ? Object.values(msg.outputs).map((t) => t.data.buffer as ArrayBuffer) : [];
  try {
    port.postMessage(msg, buffers);
  } catch {
    port.postMessage(msg); // a buffer that cannot be transferred is copied
  }
}

async function main(): Promise<void> {
  let graph: Graph;
  try {
    graph = await new OnnxRuntime({ provider: 'cpu', threads: 1, profilePlacement: false }).open(file, role);
  } catch (e) {
    send({ kind: 'openFailed', error: VarScopeError.toWire(e) });
    return;
  }
  send({ kind: 'ready' });
  port.on('message', (req: ToGraphWorker) => {
    graph.run(req.feeds, req.fetches).then(
      (outputs) => send({ kind: 'result', id: req.id, outputs: ownBuffers(outputs) }),
      (e: unknown) => send({ kind: 'failed', id: req.id, error: VarScopeError.toWire(e) }),
    );
  });
}

void main();
