/**
 * Matrix-product FLOPs (2·m·n·k per product) of the transformer graphs, from the bundle's config: per scale of a
 * generation (the KV-cached step graph: the scale's l tokens attending to the Lp cached ones and themselves) and per
 * scale of one teacher-forced pass (every row attends to all L positions: the graph computes the masked scores too).
 * The products are those of python/varscope/bundle/graphs.py; test/unit/engine/analysis/flops.test.ts checks them
 * against the MatMul / Gemm shapes onnxruntime runs.
 */
import type { BundleManifest } from '../../shared/manifest';
import type { MatmulFlops } from '../../shared/results';

/** FLOPs of one [m, k] × [k, n] product. */
const mm = (m: number, k: number, n: number): number => 2 * m * k * n;

/** The transformer's widths. */
function widths(m: BundleManifest): { D: number; hidden: number; depth: number; V: number; Cvae: number } {
  const { depth, embedDim: D, mlpRatio } = m.var;
  // FFN(embed_dim, round(embed_dim * mlp_ratio)) in var_model.py (Python rounds half to even; widths are integers here)
  return { D, hidden: Math.round(D * (mlpRatio ?? 4)), depth, V: m.vae.vocabSize, Cvae: m.vae.Cvae };
}

/** The token-proportional products of `rows` tokens (batch included) that attend to `keys` positions each. */
function tokenFlops(m: BundleManifest, rows: number, keys: number, embedRows: number): Omit<MatmulFlops, 'conditioning' | 'total'> {
  const { D, hidden, depth, V, Cvae } = widths(m);
  return {
    embed: mm(embedRows, Cvae, D), // word_embed
    attentionProjections: depth * (mm(rows, D, 3 * D) + mm(rows, D, D)), // mat_qkv, proj
    attentionScores: depth * 2 * mm(rows, D, keys), // q·kᵀ and attn·v over all heads: nh × hd = D
    mlp: depth * (mm(rows, D, hidden) + mm(rows, hidden, D)),
    head: mm(rows, D, V),
  };
}

/** The per-sequence products on the class condition: the blocks' adaLN (or the shared one) and the head's. */
function conditioningFlops(m: BundleManifest, B: number): number {
  const { D, depth } = widths(m);
  return (m.var.sharedAdaLN ? 1 : depth) * mm(B, D, 6 * D) + mm(B, D, 2 * D);
}

function withTotal(f: Omit<MatmulFlops, 'total'>): MatmulFlops {
  return { ...f, total: f.embed + f.attentionProjections + f.attentionScores + f.mlp + f.head + f.conditioning };
}

/** The step graph's FLOPs at scale `si` with batch B (2 with CFG): l tokens attending to Lp + l positions. */
export function stepFlops(m: BundleManifest, si: number, B: number): MatmulFlops {
  const [Lp, end] = m.beginEnds[si];
  const l = end - Lp;
  // At scale 0 the graph still runs word_embed on its (ignored) one-token x: torch.where computes both branches.
  return withTotal({ ...tokenFlops(m, B * l, Lp + l, B * l), conditioning: conditioningFlops(m, B) });
}

/**
 * One teacher-forced pass (the transformer graph, batch B): per scale, the products of its rows (the class token's
 * row has no word_embed); `conditioning` is the pass's per-sequence products, counted once in `total`.
 */
export function teacherForcedFlops(m: BundleManifest, B = 1): { scales: MatmulFlops[]; conditioning: number; total: number } {
  const L = m.tokenCount;
  const scales = m.beginEnds.map(([b, e]) => {
    const embedRows = e - Math.max(b, m.firstL);
    return withTotal({ ...tokenFlops(m, B * (e - b), L, B * embedRows), conditioning: 0 });
  });
  const conditioning = conditioningFlops(m, B);
  return { scales, conditioning, total: scales.reduce((s, f) => s + f.total, conditioning) };
}

/**
 * The products whose rate is the machine's limit for this model (matmulRate.ts): the linear layers of a block and the
 * head, [k, n] each, on the rows of the largest step of a CFG generation (2 × the last scale's tokens).
 */
export function rateShapes(m: BundleManifest): { m: number; shapes: Array<[number, number]> } {
  const { D, hidden, V } = widths(m);
  const [b, e] = m.beginEnds[m.beginEnds.length - 1];
  return {
    m: 2 * (e - b),
    shapes: [
      [D, 3 * D],
      [D, D],
      [D, hidden],
      [hidden, D],
      [D, V],
    ],
  };
}
