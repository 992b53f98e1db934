/**
 * The `Unigram` model of a tokenizer.json (sentencepiece's unigram language model): the best segmentation of a
 * pre-tokenized word by Viterbi over the vocabulary's log probabilities, as Hugging Face tokenizers computes it
 * (models/unigram/model.rs, encode_optimized, and tokenize).
 */
import { VarScopeError } from '../../shared/errors';

/** Added to the lowest piece score for a character no piece covers (tokenizers' K_UNK_PENALTY). */
const UNK_PENALTY = 10;

/** A unigram vocabulary: pieces with their scores, the unknown piece's id. */
export class Unigram {
  private readonly ids = new Map<string, number>();
  private readonly longest: number;
  private readonly unkScore: number;

  /** vocab: [piece, score] by id; a piece listed twice resolves to its last id, as in tokenizers. */
  constructor(
    private readonly vocab: ReadonlyArray<readonly [string, number]>,
    private readonly unkId: number | null,
    private readonly byteFallback: boolean,
  ) {
    let longest = 0;
    let minScore = Infinity;
    vocab.forEach(([piece, score], id) => {
      this.ids.set(piece, id);
      longest = Math.max(longest, [...piece].length);
      minScore = Math.min(minScore, score);
    });
    this.longest = longest;
    this.unkScore = minScore - UNK_PENALTY;
  }

  /** The piece of an id (its text as the vocabulary writes it, `▁` for a word start); undefined outside the vocabulary. */
  piece(id: number): string | undefined {
    return this.vocab[id]?.[0];
  }

  /** The ids of one pre-tokenized word. */
  tokenize(word: string): number[] {
    return this.segment(word)
      .map((piece) => this.pieceIds(piece))
      .flat();
  }

  /**
   * The best-scoring pieces covering `word`, first to last. Per start character, the pieces that begin there are
   * tried shortest first and a path replaces another only with a strictly higher score (tokenizers' order, so ties
   * resolve alike); a character no single-character piece covers may also be the unknown piece. Adjacent unknown
   * pieces are fused into one.
   */
  private segment(word: string): string[] {
    const chars = [...word];
    const n = chars.length;
    if (!n) return [];
    const score = new Float64Array(n + 1);
    const from = new Int32Array(n + 1).fill(-1);
    const id = new Int32Array(n + 1);
    const offer = (start: number, end: number, pieceId: number, s: number) => {
      const candidate = s + score[start];
      if (from[end] < 0 || candidate > score[end]) {
        score[end] = candidate;
        from[end] = start;
        id[end] = pieceId;
      }
    };
    for (let start = 0; start < n; start++) {
      let piece = '';
      let single = false;
      for (let end = start + 1; end <= Math.min(n, start + this.longest); end++) {
        piece += chars[end - 1];
        const pieceId = this.ids.get(piece);
        if (pieceId === undefined) continue;
        offer(start, end, pieceId, this.vocab[pieceId][1]);
        if (end === start + 1) single = true;
      }
      if (!single) {
        if (this.unkId === null)
          throw new VarScopeError('Inference', `tokenizer: ${JSON.stringify(chars[start])} has no piece and the model has no unk_id`);
        offer(start, start + 1, this.unkId, this.unkScore);
      }
    }
    const pieces: string[] = [];
    let unknown = '';
    for (let end = n; end > 0; end = from[end]) {
      const text = chars.slice(from[end], end).join('');
      if (id[end] === this.unkId) {
        unknown = text + unknown;
        continue;
      }
      if (unknown) pieces.push(unknown);
      unknown = '';
      pieces.push(text);
    }
    if (unknown) pieces.push(unknown);
    return pieces.reverse();
  }

  /** A piece's id; a fused unknown run is the unknown id, or its UTF-8 bytes' <0xXX> pieces with byte fallback. */
  private pieceIds(piece: string): number[] {
    const known = this.ids.get(piece);
    if (known !== undefined) return [known];
    if (this.byteFallback) {
      const bytes = [...Buffer.from(piece, 'utf8')].map((b) => this.ids.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`));
      if (bytes.every((b) => b !== undefined)) return bytes as number[];
    }
    if (this.unkId === null)
      throw new VarScopeError('Inference', `tokenizer: ${JSON.stringify(piece)} has no piece and the model has no unk_id`);
    return [this.unkId];
  }
}
