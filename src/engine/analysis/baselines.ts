/**
 * Baselines that give the transformer's per-scale numbers a meaning:
 * - the code-frequency prior: always predict the distribution of code frequencies at that scale (its accuracy
 *   is that of always predicting the most frequent code). Frequencies are mixed with the uniform distribution
 *   at weight PRIOR_UNIFORM_MIX, so a code never seen still has a finite NLL;
 * - copy-coarser: predict the code at the same position of the coarser scale, upsampled by nearest neighbour
 *   (source index floor(i · pnCoarse / pn), as PyTorch's F.interpolate(mode='nearest')).
 */

/** Weight of the uniform distribution mixed into a frequency prior. */
export const PRIOR_UNIFORM_MIX = 1e-3;

/** A frequency prior at one scale: log-probabilities and the code it predicts (the most frequent, lowest id on ties). */
export interface FrequencyPrior {
  logProb: Float64Array;
  argmax: number;
}

/** The prior of a count (or frequency) vector. */
export function frequencyPrior(counts: ArrayLike<number>): FrequencyPrior {
  const V = counts.length;
  let total = 0;
  let argmax = 0;
  for (let v = 0; v < V; v++) {
    total += counts[v];
    if (counts[v] > counts[argmax]) argmax = v;
  }
  const logProb = new Float64Array(V);
  for (let v = 0; v < V; v++)
    logProb[v] = Math.log((total > 0 ? (1 - PRIOR_UNIFORM_MIX) * (counts[v] / total) : 0) + (total > 0 ? PRIOR_UNIFORM_MIX : 1) / V);
  return { logProb, argmax };
}

/** Hits and summed NLL of a prior on some tokens. */
export function scorePrior(prior: FrequencyPrior, tokens: ArrayLike<number>): { hits: number; nll: number } {
  let hits = 0;
  let nll = 0;
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] === prior.argmax) hits++;
    nll -= prior.logProb[tokens[i]];
  }
  return { hits, nll };
}

/**
 * Leave-one-out prior score of one image at one scale: the folder's counts at that scale without this image's
 * tokens. `counts` is restored before returning.
 */
export function scoreLeaveOneOut(counts: Float64Array, tokens: ArrayLike<number>): { hits: number; nll: number } {
  for (let i = 0; i < tokens.length; i++) counts[tokens[i]]--;
  try {
    return scorePrior(frequencyPrior(counts), tokens);
  } finally {
    for (let i = 0; i < tokens.length; i++) counts[tokens[i]]++;
  }
}

/** Positions of scale `pn` whose token equals the coarser scale's token (pnCoarse) at the nearest position. */
export function copyCoarserHits(coarse: ArrayLike<number>, pnCoarse: number, fine: ArrayLike<number>, pn: number): number {
  let hits = 0;
  for (let i = 0; i < pn; i++) {
    const si = Math.floor((i * pnCoarse) / pn);
    for (let j = 0; j < pn; j++) {
      const sj = Math.floor((j * pnCoarse) / pn);
      if (fine[i * pn + j] === coarse[si * pnCoarse + sj]) hits++;
    }
  }
  return hits;
}
