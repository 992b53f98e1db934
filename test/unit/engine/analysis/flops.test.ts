/**
 * The FLOPs counted from the bundle's config: by hand on the fixture config, and against the matrix products
 * onnxruntime runs in the fixture bundle's transformer graphs (their shapes read from its profile, graph
 * optimisations off so that every MatMul / Gemm of the export is a node of its own).
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import type { BundleManifest } from '../../../../src/shared/manifest';
import { rateShapes, stepFlops, teacherForcedFlops } from '../../../../src/engine/analysis/flops';
import { requireBundle } from '../../fixtures';

interface ProfileEvent {
  cat?: string;
  name?: string;
  args?: { op_name?: string; input_type_shape?: Array<Record<string, number[]>>; output_type_shape?: Array<Record<string, number[]>> };
}

const prod = (d: number[]): number => d.reduce((a, b) => a * b, 1);

/**
 * 2·m·n·k of every MatMul and Gemm that ran: the output holds the m·n products (batch included) and k is the last
 * dim of the first input (no node here transposes it); weights are initializers, which the profile leaves out.
 */
async function graphMatmulFlops(file: string, feeds: Record<string, ort.Tensor>): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-flops-'));
  try {
    const s = await ort.InferenceSession.create(file, {
      graphOptimizationLevel: 'disabled',
      enableProfiling: true,
      profileFilePrefix: path.join(dir, 'p'),
      intraOpNumThreads: 1,
    });
    await s.run(feeds);
    s.endProfiling();
    await s.release();
    const events = JSON.parse(fs.readFileSync(path.join(dir, fs.readdirSync(dir)[0]), 'utf8')) as ProfileEvent[];
    let flops = 0;
    let nodes = 0;
    for (const e of events) {
      if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time') || !/^(MatMul|Gemm)$/.test(e.args?.op_name ?? '')) continue;
      const a = Object.values(e.args!.input_type_shape![0])[0];
      const out = Object.values(e.args!.output_type_shape![0])[0];
      flops += 2 * prod(out) * a[a.length - 1];
      nodes++;
    }
    assert.ok(nodes > 0, `no matrix product in the profile of ${file}`);
    return flops;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const f32 = (dims: number[]) => new ort.Tensor('float32', new Float32Array(prod(dims)).fill(0.1), dims);
const i64 = (dims: number[], v: number[]) => new ort.Tensor('int64', BigInt64Array.from(v.map(BigInt)), dims);

describe('FLOPs per scale (analysis/flops)', function () {
  this.timeout(120000);
  const dir = requireBundle();
  const m = JSON.parse(fs.readFileSync(path.join(dir, 'varscope.json'), 'utf8')) as BundleManifest;

  it('counts the step graph at scale 3 of the fixture by hand', () => {
    // depth 2, D 128, 2 heads, MLP 4×, V 512, Cvae 16; scale 3: l = 16 tokens after Lp = 14, batch 2 (CFG)
    assert.deepStrictEqual([m.var.depth, m.var.embedDim, m.var.mlpRatio, m.vae.vocabSize, m.vae.Cvae], [2, 128, 4, 512, 16]);
    const rows = 2 * 16;
    const f = stepFlops(m, 3, 2);
    assert.strictEqual(f.embed, 2 * rows * 16 * 128);
    assert.strictEqual(f.attentionProjections, 2 * (2 * rows * 128 * 384 + 2 * rows * 128 * 128));
    assert.strictEqual(f.attentionScores, 2 * 2 * (2 * rows * 128 * 30));
    assert.strictEqual(f.mlp, 2 * (2 * rows * 128 * 512 + 2 * rows * 512 * 128));
    assert.strictEqual(f.head, 2 * rows * 128 * 512);
    assert.strictEqual(f.conditioning, 2 * (2 * 2 * 128 * 768) + 2 * 2 * 128 * 256);
    assert.strictEqual(f.total, 31391744);
  });

  it('teacher-forced scales add up to the pass, and the rate measures the largest step', () => {
    const tf = teacherForcedFlops(m);
    assert.strictEqual(tf.scales.length, 10);
    assert.strictEqual(tf.scales[0].embed, 0); // the class token has no word_embed
    assert.strictEqual(tf.scales[9].attentionScores, 2 * 2 * (2 * 256 * 128 * m.tokenCount)); // every row sees all L keys
    assert.strictEqual(
      tf.total,
      tf.scales.reduce((s, f) => s + f.total, tf.conditioning),
    );
    assert.deepStrictEqual(rateShapes(m), {
      m: 512,
      shapes: [
        [128, 384],
        [128, 128],
        [128, 512],
        [512, 128],
        [128, 512],
      ],
    });
  });

  it('equals the MatMul / Gemm products of the step graph at every scale', async () => {
    const { depth, numHeads: nh, embedDim: D } = m.var;
    for (let si = 0; si < m.patchNums.length; si++) {
      const [Lp, e] = m.beginEnds[si];
      const l = e - Lp;
      const ran = await graphMatmulFlops(path.join(dir, m.graphs.transformerStep.file), {
        classLabel: i64([2], [0, m.var.nullClass]),
        x: f32([2, l, m.vae.Cvae]),
        scaleIndex: i64([], [si]),
        pastKey: f32([Lp, depth, 2, nh, D / nh]),
        pastValue: f32([Lp, depth, 2, nh, D / nh]),
      });
      assert.strictEqual(stepFlops(m, si, 2).total, ran, `scale ${si}`);
    }
  });

  it('equals the MatMul / Gemm products of the teacher-forced graph', async () => {
    const ran = await graphMatmulFlops(path.join(dir, m.graphs.transformer.file), {
      classLabel: i64([1], [3]),
      varInput: f32([1, m.tokenCount - m.firstL, m.vae.Cvae]),
    });
    assert.strictEqual(teacherForcedFlops(m).total, ran);
  });
});
