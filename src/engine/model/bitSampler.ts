/**
 * Sampling of one scale's bits as the official Infinity autoregressive_infer_cfg does it with use_bit_label: the logits
 * [l, d, 2] multiplied by 1 / tau, CFG mixing cfg · cond + (1 − cfg) · uncond (on the logits, or already done inside
 * the network), then every bit drawn from its two logits with sample_with_top_k_top_p_ semantics (sampler.ts, V = 2),
 * with the engine's Rng instead of torch.multinomial.
 */
import type { Rng } from './rng';
import { sampleScale } from './sampler';

/**
 * The logits the sampler gets [l·d·2] from the step graph's [rows, l, d, 2]: row 0 (conditional) times 1 / tau, mixed
 * with row 1 (unconditional) as cfg · cond + (1 − cfg) · uncond when `onLogits`; float32 at each operation, as torch.
 */
export function guideBitLogits(logits: Float32Array, n: number, cfg: number, tau: number, onLogits: boolean): Float32Array {
  const out = new Float32Array(n);
  const invTau = Math.fround(1 / tau);
  if (!onLogits) {
    for (let i = 0; i < n; i++) out[i] = logits[i] * invTau;
    return out;
  }
  const a = Math.fround(cfg);
  const b = Math.fround(1 - cfg);
  for (let i = 0; i < n; i++) {
    const cond = Math.fround(logits[i] * invTau);
    const uncond = Math.fround(logits[n + i] * invTau);
    out[i] = Math.fround(a * cond) + Math.fround(b * uncond);
  }
  return out;
}

/** One scale's sampled bits and what the views show of their distribution. */
export interface SampledBits {
  /** 0/1 [l·d]. */
  bits: Uint8Array;
  /** Probability of each sampled bit [l·d], before top-k / top-p. */
  sampledProb: Float32Array;
  /** Per token [l]: the sum of its d bits' entropies (nats). */
  entropy: Float32Array;
}

/**
 * Draw every bit of a scale from guided logits [l·d·2] (index 0: bit 0, index 1: bit 1). `forced` (0/1 per bit)
 * replaces the draw, which still happens, so the random stream does not depend on what was forced.
 */
export function sampleBits(guided: Float32Array, d: number, topK: number, topP: number, rng: Rng, forced?: Uint8Array): SampledBits {
  const s = sampleScale(guided, 2, topK, topP, rng, forced && Int32Array.from(forced));
  const l = s.tokens.length / d;
  const entropy = new Float32Array(l);
  for (let t = 0; t < l; t++) {
    let h = 0;
    for (let j = 0; j < d; j++) h += s.entropy[t * d + j];
    entropy[t] = h;
  }
  return { bits: Uint8Array.from(s.tokens), sampledProb: s.sampledProb, entropy };
}
