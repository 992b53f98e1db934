/**
 * Infinity's bitwise sampling on hand-made logits: 1 / tau, CFG mixing, top-k and top-p on each bit's two logits (the
 * official sample_with_top_k_top_p_ on [B, l·d, 2]), the draw frequencies, forced bits, seeded determinism.
 */
import * as assert from 'assert';
import { guideBitLogits, sampleBits } from '../../../../src/engine/model/bitSampler';
import { Rng } from '../../../../src/engine/model/rng';

/** P(bit = 1) of a bit's logits (index 0: bit 0, index 1: bit 1). */
const pOne = (l0: number, l1: number) => 1 / (1 + Math.exp(l0 - l1));

/** How often each bit of `guided` [n·2] comes out 1 over `draws` seeded draws. */
function frequencies(guided: Float32Array, topK: number, topP: number, draws: number): number[] {
  const rng = new Rng(123);
  const ones = new Array<number>(guided.length / 2).fill(0);
  for (let t = 0; t < draws; t++) sampleBits(guided, 1, topK, topP, rng).bits.forEach((b, i) => (ones[i] += b));
  return ones.map((n) => n / draws);
}

describe('bitSampler', () => {
  it('tau scales the logits by 1 / tau; CFG mixes cfg · cond + (1 − cfg) · uncond after it', () => {
    // rows: cond [1, 2, -1, 0], uncond [3, 0, 1, 1]: one token of two bits
    const logits = Float32Array.from([1, 2, -1, 0, 3, 0, 1, 1]);
    assert.deepStrictEqual(Array.from(guideBitLogits(logits, 4, 1, 0.5, false)), [2, 4, -2, 0]);
    // cfg 3, tau 1: 3 cond − 2 uncond
    assert.deepStrictEqual(Array.from(guideBitLogits(logits, 4, 3, 1, true)), [-3, 6, -5, -2]);
    // cfg 3, tau 0.5: (3 cond − 2 uncond) · 2
    assert.deepStrictEqual(Array.from(guideBitLogits(logits, 4, 3, 0.5, true)), [-6, 12, -10, -4]);
    // CFG inside the network: the conditional row only (already mixed), the unconditional row unread
    assert.deepStrictEqual(Array.from(guideBitLogits(logits, 4, 3, 1, false)), [1, 2, -1, 0]);
  });

  it('top-k 1 takes the larger logit of each bit (greedy): no randomness', () => {
    const guided = Float32Array.from([0.2, 0.1, -3, 4, 0, 1e-6]);
    for (const seed of [0, 1, 99]) assert.deepStrictEqual(Array.from(sampleBits(guided, 3, 1, 0, new Rng(seed)).bits), [0, 1, 1]);
  });

  it('top-k 0 or 2 leaves both values: each bit is 1 with probability softmax(logits)[1]', () => {
    const guided = Float32Array.from([0, 0, 0, Math.log(3), Math.log(9), 0]); // P(1) = 0.5, 0.75, 0.1
    const want = [pOne(0, 0), pOne(0, Math.log(3)), pOne(Math.log(9), 0)];
    for (const topK of [0, 2]) {
      const f = frequencies(guided, topK, 0, 20000);
      f.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 0.015, `top-k ${topK}, bit ${i}: ${v} vs ${want[i]}`));
    }
  });

  it('top-p drops the less likely value when its probability is <= 1 − top_p; the likelier one always stays', () => {
    const guided = Float32Array.from([0, Math.log(3), Math.log(9), 0, 0, 0]); // P(1) = 0.75, 0.1, 0.5
    // top_p 0.8: 1 − p = 0.2 → the 0.1 value goes (bit 1 always 0); 0.25 and 0.5 stay
    const f = frequencies(guided, 0, 0.8, 20000);
    assert.ok(Math.abs(f[0] - 0.75) < 0.015, `bit 0: ${f[0]}`);
    assert.strictEqual(f[1], 0);
    assert.ok(Math.abs(f[2] - 0.5) < 0.015, `bit 2: ${f[2]}`);
    // top_p 0.7: 1 − p = 0.3 → 0.25 goes too (bit 0 always 1); a tie (0.5 ≤ 0.3? no) keeps both
    const g = frequencies(guided, 0, 0.7, 20000);
    assert.deepStrictEqual([g[0], g[1]], [1, 0]);
    assert.ok(Math.abs(g[2] - 0.5) < 0.015, `bit 2: ${g[2]}`);
  });

  it("reports each sampled bit's probability and each token's entropy (the sum over its bits)", () => {
    const guided = Float32Array.from([0, 0, 0, Math.log(3), 5, -5, -5, 5]); // two tokens of two bits
    const s = sampleBits(guided, 2, 1, 0, new Rng(0));
    assert.deepStrictEqual(Array.from(s.bits).slice(1), [1, 0, 1]); // greedy (bit 0 is a tie: both values kept, drawn)
    const h = (p: number) => -(p * Math.log(p) + (1 - p) * Math.log(1 - p));
    assert.ok(Math.abs(s.entropy[0] - (h(0.5) + h(0.75))) < 1e-6);
    assert.ok(Math.abs(s.entropy[1] - 2 * h(pOne(5, -5))) < 1e-6);
    assert.ok(Math.abs(s.sampledProb[1] - 0.75) < 1e-6);
    assert.ok(Math.abs(s.sampledProb[2] - pOne(-5, 5)) < 1e-6);
  });

  it('forced bits replace the draws without moving the random stream; a seed repeats its bits', () => {
    const guided = new Float32Array(64); // 32 fair bits
    const free = sampleBits(guided, 32, 0, 0, new Rng(5)).bits;
    assert.deepStrictEqual(sampleBits(guided, 32, 0, 0, new Rng(5)).bits, free);
    assert.notDeepStrictEqual(sampleBits(guided, 32, 0, 0, new Rng(6)).bits, free);
    const rngA = new Rng(5);
    const forced = new Uint8Array(32).fill(1);
    assert.deepStrictEqual(Array.from(sampleBits(guided, 32, 0, 0, rngA, forced).bits), Array.from(forced));
    const rngB = new Rng(5);
    sampleBits(guided, 32, 0, 0, rngB);
    assert.strictEqual(rngA.nextUint32(), rngB.nextUint32());
  });
});
