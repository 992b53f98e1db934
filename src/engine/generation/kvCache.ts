/**
 * The KV cache of one generation, behind the transformerStep graph: each run feeds it as pastKey / pastValue and
 * keeps the keys and values the run adds. Three kinds, by where the cache lives and the graph's layout:
 * - HostKvCache: the current graph (position-first cache, scaleKey / scaleValue out) on the host. One buffer per
 *   side, allocated once for every position a step can read; a run gets the filled prefix as a view (onnxruntime-node
 *   reads a typed array view in place: a [1e8] float32 feed over a view of a larger buffer left RSS unchanged) and
 *   only this scale's keys are copied behind it. Going back shortens the prefix.
 * - DeviceKvCache: on WebGPU, the whole cache after each scale (presentKey / presentValue) stays in GPU buffers and is
 *   fed back; it cannot be cut, so going back drops it and the run rebuilds it. Either layout.
 * - LayerFirstHostCache: the step graph of an earlier exporter (layer-first cache, the whole cache out at every
 *   scale) on the host, sliced on a step back.
 */
import type { BundleManifest } from '../../shared/manifest';
import type { DeviceTensor, Graph } from '../runtime/graph';
import type { HostTensor } from '../runtime/tensor';

/** The KV cache of a generation; see the file comment for its kinds. */
export interface KvCache {
  /** Positions the cache holds (the Lp of the next run). */
  readonly length: number;
  /** Bytes of the engine's own buffers holding the cache (onnxruntime's and the GPU's not counted). */
  readonly hostBytes: number;
  /**
   * Run the step graph on `feeds` and the cache (as pastKey / pastValue); logits come back. `keep`: the cache then
   * holds this scale's keys and values too (false at the last scale, whose keys no later scale reads).
   */
  step(g: Graph, feeds: Record<string, HostTensor>, keep: boolean): Promise<HostTensor>;
  /** Keep the first `positions` (at most length); false when the cache cannot be cut and was emptied instead. */
  truncate(positions: number): boolean;
  /** Release what the cache holds (GPU buffers). */
  dispose(): void;
}

/** Whether a transformerStep graph reads and writes the position-first cache (it outputs scaleKey). */
export function isPositionFirst(g: Graph): boolean {
  return g.outputs.some((o) => o.name === 'scaleKey');
}

/** The cache a generation with batch B (2 with CFG) keeps for the step graph `g` of the bundle `m`. */
export function openKvCache(g: Graph, m: BundleManifest, B: number): KvCache {
  const positionFirst = isPositionFirst(g);
  if (g.deviceOutputs.length) return new DeviceKvCache(m, B, positionFirst);
  return positionFirst ? new HostKvCache(m, B) : new LayerFirstHostCache(m, B);
}

/** Facts of a cache's shape. */
function cacheFacts(m: BundleManifest): { depth: number; nh: number; hd: number; lastBegin: number } {
  const { depth, numHeads: nh, embedDim } = m.var;
  return { depth, nh, hd: embedDim / nh, lastBegin: m.beginEnds[m.patchNums.length - 1][0] };
}

/** The position-first cache in one host buffer per side; see the file comment. */
export class HostKvCache implements KvCache {
  /** [positions, depth, B, nh, hd]: positions = the tokens before the last scale, all a step reads. */
  readonly keys: Float32Array;
  readonly values: Float32Array;
  /** Floats per position: depth × B × nh × hd. */
  private readonly row: number;
  private readonly rowDims: number[];
  length = 0;

  constructor(m: BundleManifest, B: number) {
    const { depth, nh, hd, lastBegin } = cacheFacts(m);
    this.rowDims = [depth, B, nh, hd];
    this.row = depth * B * nh * hd;
    this.keys = new Float32Array(lastBegin * this.row);
    this.values = new Float32Array(lastBegin * this.row);
  }

  get hostBytes(): number {
    return this.keys.byteLength + this.values.byteLength;
  }

  async step(g: Graph, feeds: Record<string, HostTensor>, keep: boolean): Promise<HostTensor> {
    const n = this.length * this.row;
    const past = (data: Float32Array): HostTensor => ({
      dtype: 'float32',
      dims: [this.length, ...this.rowDims],
      data: data.subarray(0, n),
    });
    const out = await g.run(
      { ...feeds, pastKey: past(this.keys), pastValue: past(this.values) },
      keep ? ['logits', 'scaleKey', 'scaleValue'] : ['logits'],
    );
    if (keep) {
      const l = out.scaleKey.dims[0];
      const want = JSON.stringify([l, ...this.rowDims]);
      for (const name of ['scaleKey', 'scaleValue'])
        if (JSON.stringify(out[name].dims) !== want || !(out[name].data instanceof Float32Array))
          throw new Error(`transformerStep.${name}: expected float32 ${want}, got ${out[name].dtype} ${JSON.stringify(out[name].dims)}`);
      if ((this.length + l) * this.row > this.keys.length)
        throw new Error(`transformerStep: ${this.length + l} cached positions exceed the ${this.keys.length / this.row} a step reads`);
      this.keys.set(out.scaleKey.data as Float32Array, n);
      this.values.set(out.scaleValue.data as Float32Array, n);
      this.length += l;
    }
    return out.logits;
  }

  truncate(positions: number): boolean {
    this.length = Math.min(this.length, positions);
    return true;
  }

  dispose(): void {}
}

/** The cache kept in GPU buffers (presentKey / presentValue fed back); see the file comment. */
class DeviceKvCache implements KvCache {
  private key: DeviceTensor | HostTensor | undefined;
  private value: DeviceTensor | HostTensor | undefined;
  length = 0;

  get hostBytes(): number {
    return [this.key, this.value].reduce((n, t) => n + (t && !('onDevice' in t) ? t.data.byteLength : 0), 0);
  }

  constructor(
    private readonly m: BundleManifest,
    private readonly B: number,
    private readonly positionFirst: boolean,
  ) {}

  async step(g: Graph, feeds: Record<string, HostTensor>, keep: boolean): Promise<HostTensor> {
    const { depth, nh, hd } = cacheFacts(this.m);
    const empty: HostTensor = {
      dtype: 'float32',
      dims: this.positionFirst ? [0, depth, this.B, nh, hd] : [depth, this.B, nh, 0, hd],
      data: new Float32Array(0),
    };
    const { host, device } = await g.runDevice(
      { ...feeds, pastKey: this.key ?? empty, pastValue: this.value ?? empty },
      keep ? ['logits', 'presentKey', 'presentValue'] : ['logits'],
    );
    if (keep) {
      this.dispose();
      // Outputs a provider left on the host are fed back from there.
      this.key = device.presentKey ?? host.presentKey;
      this.value = device.presentValue ?? host.presentValue;
      this.length = this.key.dims[this.positionFirst ? 0 : 3];
    }
    return host.logits;
  }

  truncate(positions: number): boolean {
    if (positions >= this.length) return true;
    this.dispose();
    return false;
  }

  dispose(): void {
    for (const t of [this.key, this.value]) if (t && 'onDevice' in t) t.dispose();
    this.key = this.value = undefined;
    this.length = 0;
  }
}

/** The layer-first cache of an earlier exporter's step graph, on the host; see the file comment. */
class LayerFirstHostCache implements KvCache {
  private key: HostTensor | undefined;
  private value: HostTensor | undefined;

  constructor(
    private readonly m: BundleManifest,
    private readonly B: number,
  ) {}

  get length(): number {
    return this.key?.dims[3] ?? 0;
  }

  get hostBytes(): number {
    return (this.key?.data.byteLength ?? 0) + (this.value?.data.byteLength ?? 0);
  }

  async step(g: Graph, feeds: Record<string, HostTensor>, keep: boolean): Promise<HostTensor> {
    const { depth, nh, hd } = cacheFacts(this.m);
    const empty: HostTensor = { dtype: 'float32', dims: [depth, this.B, nh, 0, hd], data: new Float32Array(0) };
    const out = await g.run(
      { ...feeds, pastKey: this.key ?? empty, pastValue: this.value ?? empty },
      keep ? ['logits', 'presentKey', 'presentValue'] : ['logits'],
    );
    if (keep) [this.key, this.value] = [out.presentKey, out.presentValue];
    return out.logits;
  }

  truncate(positions: number): boolean {
    if (this.key) this.key = sliceLayerFirst(this.key, positions);
    if (this.value) this.value = sliceLayerFirst(this.value, positions);
    return true;
  }

  dispose(): void {}
}

/** The first Lp positions of a layer-first cache [depth, B, nh, Lp', hd]. */
function sliceLayerFirst(t: HostTensor, Lp: number): HostTensor {
  const [depth, B, nh, Lold, hd] = t.dims;
  if (Lold <= Lp) return t;
  const src = t.data as Float32Array;
  const out = new Float32Array(depth * B * nh * Lp * hd);
  const rows = depth * B * nh;
  for (let r = 0; r < rows; r++) out.set(src.subarray(r * Lold * hd, r * Lold * hd + Lp * hd), r * Lp * hd);
  return { dtype: 'float32', dims: [depth, B, nh, Lp, hd], data: out };
}
