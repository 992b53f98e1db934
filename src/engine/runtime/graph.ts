/**
 * The graph layer's shared types: an opened ONNX graph (`Graph`), its inputs and outputs (`GraphIO`), and the
 * messages between a GraphPool and its worker threads. Imported by the runtime wrapper, the pool and the worker,
 * so that none of them imports another for its types.
 */
import type { NodePlacement } from '../../shared/results';
import type { WireError } from '../../shared/errors';
import type { HostTensor, TensorDType } from './tensor';

/** Name, element type and dims (strings for dynamic axes) of one graph input or output. */
export interface GraphIO {
  name: string;
  dtype: string;
  dims: Array<number | string>;
}

/**
 * A graph output left in device memory (an onnxruntime GPU buffer) to be fed to a later run without a round trip
 * through the host. NOTE: onnxruntime-node 1.30 aborts the process when such a tensor is read back (getData), so it
 * is only ever fed back or disposed.
 */
export interface DeviceTensor {
  readonly dtype: TensorDType;
  readonly dims: number[];
  readonly onDevice: true;
  /** Free its device memory; it cannot be fed after. */
  dispose(): void;
}

/** An opened ONNX graph: a session (GraphSession), or single-thread sessions in this and worker threads (GraphPool). */
export interface Graph {
  readonly file: string;
  readonly provider: string;
  readonly inputs: GraphIO[];
  readonly outputs: GraphIO[];
  /** Where onnxruntime placed the nodes; settles after the graph's first run (undefined when not profiled). */
  readonly placement: Promise<NodePlacement | undefined>;
  /** Outputs this graph leaves on the device (runDevice returns them as DeviceTensor); none on the CPU. */
  readonly deviceOutputs: readonly string[];
  /** Run the graph; `fetches` limits the outputs computed. Device outputs are left out (and freed). */
  run(feeds: Record<string, HostTensor>, fetches?: string[]): Promise<Record<string, HostTensor>>;
  /**
   * Run with inputs that may be device tensors; the deviceOutputs come back as DeviceTensor, the rest on the host.
   * `fetches` limits the outputs computed.
   */
  runDevice(
    feeds: Record<string, HostTensor | DeviceTensor>,
    fetches?: string[],
  ): Promise<{ host: Record<string, HostTensor>; device: Record<string, DeviceTensor> }>;
  /** Release the native session(s). */
  dispose(): Promise<void>;
}

/** What a graph worker is started with (its workerData). */
export interface GraphWorkerData {
  file: string;
  role: string;
}

/** Worker -> pool messages. */
export type FromGraphWorker =
  | { kind: 'ready' }
  | { kind: 'openFailed'; error: WireError }
  | { kind: 'result'; id: number; outputs: Record<string, HostTensor> }
  | { kind: 'failed'; id: number; error: WireError };

/** Pool -> worker message: one run. */
export interface ToGraphWorker {
  id: number;
  feeds: Record<string, HostTensor>;
  fetches?: string[];
}
