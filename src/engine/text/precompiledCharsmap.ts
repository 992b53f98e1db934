/**
 * The `Precompiled` normalizer of a tokenizer.json: sentencepiece's precompiled charsmap (e.g. its nmt_nfkc rules),
 * read and applied as Hugging Face tokenizers applies it (normalizers/precompiled.rs over the spm_precompiled crate).
 *
 * The charsmap is [u32 trie size in bytes][trie: u32 units of a darts-clone double array][normalized strings, each
 * ending with a NUL]; a key's leaf value is the offset of its replacement in the strings.
 */
import { VarScopeError } from '../../shared/errors';

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A parsed charsmap: normalize(text) gives what the tokenizer's normalizer gives. */
export class PrecompiledCharsmap {
  private constructor(
    private readonly units: Uint32Array,
    private readonly normalized: Uint8Array,
  ) {}

  /** Parse the base64 `precompiled_charsmap` of a tokenizer.json (`where` names it in errors). */
  static fromBase64(base64: string, where: string): PrecompiledCharsmap {
    const bytes = Buffer.from(base64, 'base64');
    const trieBytes = bytes.length >= 4 ? bytes.readUInt32LE(0) : -1;
    if (trieBytes < 4 || trieBytes % 4 !== 0 || 4 + trieBytes > bytes.length)
      throw new VarScopeError('ModelLoad', `${where}: precompiled_charsmap is not a sentencepiece charsmap (${bytes.length} bytes)`);
    const units = new Uint32Array(trieBytes / 4);
    for (let i = 0; i < units.length; i++) units[i] = bytes.readUInt32LE(4 + 4 * i);
    return new PrecompiledCharsmap(units, new Uint8Array(bytes.subarray(4 + trieBytes)));
  }

  /**
   * The normalized text. Per extended grapheme cluster: one of under 6 UTF-8 bytes is replaced whole by the rule of its
   * shortest prefix that has one; otherwise (or without such a prefix) each of its characters by its own rule.
   * NOTE: replacing the whole cluster by its first prefix's rule drops what follows the prefix ("ﬁ" + U+0301 → "fi");
   * tokenizers does exactly this, and ids must equal its ids.
   */
  normalize(text: string): string {
    let out = '';
    for (const { segment } of graphemes.segment(text)) {
      const bytes = utf8.encode(segment);
      const whole = bytes.length < 6 ? this.transform(bytes) : undefined;
      if (whole !== undefined) {
        out += whole;
        continue;
      }
      for (const c of segment) out += this.transform(utf8.encode(c)) ?? c;
    }
    return out;
  }

  /** The replacement of the shortest prefix of `key` that has a rule (a darts common-prefix search's first hit). */
  private transform(key: Uint8Array): string | undefined {
    const u = this.units;
    let pos = offset(u[0]);
    for (const c of key) {
      if (c === 0) break;
      pos ^= c;
      const unit = u[pos];
      if (unit === undefined || label(unit) !== c) return undefined;
      pos ^= offset(unit);
      if (hasLeaf(unit)) return u[pos] === undefined ? undefined : this.normalizedAt(u[pos] & 0x7fffffff);
    }
    return undefined;
  }

  /** The NUL-terminated replacement string at byte `index` of the strings blob. */
  private normalizedAt(index: number): string | undefined {
    if (index > this.normalized.length) return undefined;
    let end = index;
    while (end < this.normalized.length && this.normalized[end] !== 0) end++;
    return fromUtf8.decode(this.normalized.subarray(index, end));
  }
}

// darts-clone's double-array unit: bits 0-7 label, bit 8 has-leaf, bit 9 offset scale (x256), bits 10-31 offset.
const hasLeaf = (unit: number) => ((unit >>> 8) & 1) === 1;
const label = (unit: number) => (unit & 0x800000ff) >>> 0;
const offset = (unit: number) => (unit >>> 10) * (unit & 0x200 ? 256 : 1);
