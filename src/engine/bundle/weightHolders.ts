/**
 * The graphs of a large bundle that each hold every transformer weight (VAR: transformer, attention, transformerStep;
 * Infinity: infinityTransformer and infinityStep of each schedule). onnxruntime gives each session a packed copy of
 * its own and offers no way to share them (no shared prepacked-weights container or initializers in its session
 * options), so a bundle whose weights file is at least `WeightHolders.largeBytes` holds them only while used
 * (official d16, 1.6 GB of weights: engine RSS 4.3 GB after opening every graph, 4.9 GB after one inspection; 0.64 and
 * 1.26 GB this way): the teacher-forced and the generation graph are exclusive (opening one releases the other once
 * idle; a switch between teacher-forced views and generation then opens its graph again), and together they stay
 * within `WeightHolders.share` of the machine's memory, the least recently used idle one released first. A released
 * graph opens again when next used.
 */
import * as os from 'os';
import { VarScopeError } from '../../shared/errors';
import type { DeviceTensor, Graph } from '../runtime/graph';
import type { HostTensor } from '../runtime/tensor';

/**
 * A large bundle's transformer graph, which may be released while idle to make room for another transformer graph
 * and opens again on its next run. Graphs that keep outputs on the device (the KV cache on WebGPU) are never released:
 * their device tensors belong to the session.
 */
class ReleasableGraph implements Graph {
  readonly file: string;
  readonly provider: string;
  readonly inputs: Graph['inputs'];
  readonly outputs: Graph['outputs'];
  readonly placement: Graph['placement'];
  readonly deviceOutputs: readonly string[];
  /** Order of last use among a bundle's graphs (larger: more recent). */
  lastUsed = 0;
  private current: Promise<Graph> | undefined;
  private running = 0;

  constructor(
    first: Graph,
    private readonly reopen: () => Promise<Graph>,
    private readonly clock: () => number,
  ) {
    ({ file: this.file, provider: this.provider, inputs: this.inputs, outputs: this.outputs } = first);
    this.placement = first.placement;
    this.deviceOutputs = first.deviceOutputs;
    this.current = Promise.resolve(first);
    this.lastUsed = clock();
  }

  /** Whether its session is open. */
  get held(): boolean {
    return this.current !== undefined;
  }

  /** Open, idle and holding nothing on the device. */
  get releasable(): boolean {
    return this.held && this.running === 0 && this.deviceOutputs.length === 0;
  }

  run(feeds: Record<string, HostTensor>, fetches?: string[]): Promise<Record<string, HostTensor>> {
    return this.use((g) => g.run(feeds, fetches));
  }

  runDevice(feeds: Record<string, HostTensor | DeviceTensor>, fetches?: string[]): ReturnType<Graph['runDevice']> {
    return this.use((g) => g.runDevice(feeds, fetches));
  }

  /** Release the session; the next run opens it again. */
  async release(): Promise<void> {
    const g = this.current;
    this.current = undefined;
    if (g) await (await g).dispose();
  }

  dispose(): Promise<void> {
    return this.release();
  }

  private async use<T>(f: (g: Graph) => Promise<T>): Promise<T> {
    this.running++;
    try {
      if (!this.current) {
        const opening = this.reopen();
        this.current = opening;
        opening.catch(() => this.current === opening && (this.current = undefined)); // a failed open may be retried
      }
      return await f(await this.current);
    } finally {
      this.running--;
      this.lastUsed = this.clock();
    }
  }
}

/** A bundle's weight-holding graphs, by key (a role, or an Infinity schedule's `<schedule>/<role>`). */
export class WeightHolders {
  /** The weights file size from which a bundle counts as large (tests lower it). */
  static largeBytes = 256 * 2 ** 20;
  /**
   * Share of the machine's memory a large bundle's weight-holding graphs may take together (tests lower it). Each
   * holds its own copy of every weight, about the bundle's weights.bin (official d30, 8.5 GB of weights, on a 24 GB
   * machine: one at a time; d24: two).
   */
  static share = 0.5;
  private readonly graphs = new Map<string, { graph: ReleasableGraph; exclusive: boolean }>();
  private uses = 0;

  constructor(
    /** Bytes of the bundle's weights.bin: what each graph holds. */
    private readonly weightBytes: number,
    private readonly closed: () => boolean,
    private readonly id: string,
  ) {}

  /** Weights of at least WeightHolders.largeBytes. */
  get large(): boolean {
    return this.weightBytes >= WeightHolders.largeBytes;
  }

  /** The keys of the graphs holding the weights now (open or opening). */
  held(): string[] {
    return [...this.graphs].filter(([, e]) => e.graph.held).map(([k]) => k);
  }

  /**
   * A graph opened with `open` as a releasable one, after making room for it; `exclusive`: a teacher-forced or
   * generation graph, which releases the other exclusive ones first.
   */
  async open(key: string, open: () => Promise<Graph>, exclusive: boolean): Promise<Graph> {
    const opening = async () => {
      if (this.closed()) throw new VarScopeError('Cancelled', `${this.id}: the model was closed`);
      await this.makeRoomFor(key, exclusive);
      return open();
    };
    const graph = new ReleasableGraph(await opening(), opening, () => ++this.uses);
    this.graphs.set(key, { graph, exclusive });
    return graph;
  }

  /**
   * Release the idle exclusive graphs when `key` is one, then idle graphs, least recently used first, until one more
   * fits in the share.
   */
  private async makeRoomFor(key: string, exclusive: boolean): Promise<void> {
    if (exclusive) for (const [k, e] of this.graphs) if (k !== key && e.exclusive && e.graph.releasable) await e.graph.release();
    const budget = WeightHolders.share * os.totalmem();
    const others = [...this.graphs].filter(([k, e]) => k !== key && e.graph.held).map(([, e]) => e.graph);
    let held = others.length;
    for (const g of others.filter((o) => o.releasable).sort((a, b) => a.lastUsed - b.lastUsed)) {
      if ((held + 1) * this.weightBytes <= budget) break;
      await g.release();
      held--;
    }
  }
}
