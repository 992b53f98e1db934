/**
 * Teacher-forced evaluation: the transformer sees the true coarser scales (varInput) and predicts every
 * scale in one pass; per position we score the true token. Also the attention weights of one block.
 */
import type { AttentionResult, EvalResult, ScaleEval } from '../../shared/results';
import { VarScopeError } from '../../shared/errors';
import type { ModelBundle } from '../bundle/bundle';
import { asF32, f32, i64 } from '../runtime/tensor';

/** Teacher-forced logits [B=1, L, V] for a class (nullClass = no class). */
export async function teacherForcedLogits(bundle: ModelBundle, varInput: Float32Array, classId: number): Promise<Float32Array> {
  const m = bundle.manifest;
  checkClass(bundle, classId);
  const g = await bundle.graph('transformer');
  const out = await g.run({ classLabel: i64([1], [classId]), varInput: f32([1, m.tokenCount - m.firstL, m.vae.Cvae], varInput) }, [
    'logits',
  ]);
  return asF32(out.logits, 'transformer.logits');
}

/** Per-scale accuracy, NLL, entropy, top-1 probability and top-k candidates from logits [L, V]. */
export function scoreLogits(bundle: ModelBundle, logits: Float32Array, tokens: Int32Array, classId: number, k = 5): EvalResult {
  const m = bundle.manifest;
  const V = m.vae.vocabSize;
  const kk = Math.min(k, V);
  const scales: ScaleEval[] = m.patchNums.map((pn, si) => {
    const [b, e] = m.beginEnds[si];
    const n = e - b;
    const s: ScaleEval = {
      scaleIndex: si,
      pn,
      accuracy: 0,
      nll: 0,
      meanEntropy: 0,
      correct: new Uint8Array(n),
      trueProb: new Float32Array(n),
      top1Prob: new Float32Array(n),
      entropy: new Float32Array(n),
      topK: { k: kk, ids: new Int32Array(n * kk), probs: new Float32Array(n * kk) },
    };
    const p = new Float64Array(V);
    for (let i = 0; i < n; i++) {
      const row = logits.subarray((b + i) * V, (b + i + 1) * V);
      let max = -Infinity;
      let arg = 0;
      for (let v = 0; v < V; v++) {
        if (row[v] > max) {
          max = row[v];
          arg = v;
        }
      }
      let sum = 0;
      for (let v = 0; v < V; v++) sum += p[v] = Math.exp(row[v] - max);
      const logSum = Math.log(sum);
      let h = 0;
      for (let v = 0; v < V; v++) {
        p[v] /= sum;
        if (p[v] > 0) h -= p[v] * (row[v] - max - logSum);
      }
      const t = tokens[b + i];
      s.correct[i] = arg === t ? 1 : 0;
      s.trueProb[i] = p[t];
      s.top1Prob[i] = p[arg];
      s.entropy[i] = h;
      s.accuracy += s.correct[i] / n;
      s.nll += -(row[t] - max - logSum) / n;
      s.meanEntropy += h / n;
      const best = topIndices(p, kk);
      best.forEach((id, j) => {
        s.topK.ids[i * kk + j] = id;
        s.topK.probs[i * kk + j] = p[id];
      });
    }
    return s;
  });
  return { classId, scales };
}

/** Attention weights of one block, one head or the mean over heads, for the teacher-forced input. */
export async function attentionWeights(
  bundle: ModelBundle,
  varInput: Float32Array,
  classId: number,
  layer: number,
  head: number | 'mean',
): Promise<AttentionResult> {
  const m = bundle.manifest;
  checkClass(bundle, classId);
  const { depth, numHeads: nh } = m.var;
  if (!Number.isInteger(layer) || layer < 0 || layer >= depth)
    throw new VarScopeError('BadRequest', `layer ${layer} outside 0..${depth - 1}`);
  if (head !== 'mean' && (!Number.isInteger(head) || head < 0 || head >= nh))
    throw new VarScopeError('BadRequest', `head ${head} outside 0..${nh - 1}`);
  const L = m.tokenCount;
  const g = await bundle.graph('attention');
  const out = await g.run(
    { classLabel: i64([1], [classId]), varInput: f32([1, L - m.firstL, m.vae.Cvae], varInput), attnLayer: i64([], [layer]) },
    ['attn'],
  );
  const attn = asF32(out.attn, 'attention.attn'); // [1, nh, L, L]
  let weights: Float32Array;
  if (head === 'mean') {
    weights = new Float32Array(L * L);
    for (let hh = 0; hh < nh; hh++) for (let i = 0; i < L * L; i++) weights[i] += attn[hh * L * L + i] / nh;
  } else {
    weights = attn.slice(head * L * L, (head + 1) * L * L);
  }
  return { layer, head, tokenCount: L, weights };
}

function checkClass(bundle: ModelBundle, classId: number): void {
  const { numClasses, nullClass } = bundle.manifest.var;
  if (!Number.isInteger(classId) || classId < 0 || (classId >= numClasses && classId !== nullClass)) {
    throw new VarScopeError('BadRequest', `class ${classId} outside 0..${numClasses - 1} (or ${nullClass} for no class)`);
  }
}

function topIndices(p: Float64Array, k: number): number[] {
  const best: number[] = [];
  for (let v = 0; v < p.length; v++) {
    if (best.length < k || p[v] > p[best[best.length - 1]]) {
      let j = Math.min(best.length, k - 1);
      best[j] = v;
      while (j > 0 && p[best[j]] > p[best[j - 1]]) {
        [best[j], best[j - 1]] = [best[j - 1], best[j]];
        j--;
      }
    }
  }
  return best;
}
