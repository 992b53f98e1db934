/**
 * A Hugging Face tokenizer.json with a Unigram model (the T5 fast tokenizer's form), giving the ids `transformers`
 * gives for one text with `truncation=True, max_length`: added tokens split out of the raw text, then per remaining
 * split the normalizer, the pre-tokenizer and the model, truncation, and the post-processor's template (T5: `</s>`
 * last). Each step follows Hugging Face tokenizers (tokenizer/added_vocabulary.rs, normalizers/, pre_tokenizers/,
 * processors/template.rs); a component this reader does not implement is refused in one line, never approximated.
 */
import { VarScopeError } from '../../shared/errors';
import { PrecompiledCharsmap } from './precompiledCharsmap';
import { Unigram } from './unigram';

type Json = Record<string, unknown>;
type Normalizer = (text: string) => string;
type PreTokenizer = (words: string[]) => string[];

/** A token of `added_tokens`, matched in the text before anything else runs. */
interface AddedToken {
  id: number;
  content: string;
  singleWord: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
}

const WHITESPACE = /\p{White_Space}/u;
/** Rust regex's Unicode `\w`, which tokenizers' single_word test uses. */
const WORD_START = /^[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]/u;
const WORD_END = /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]$/u;

/** A tokenizer read from tokenizer.json; `encode` gives a text's ids. */
export class TextTokenizer {
  private constructor(
    private readonly added: AddedToken[],
    private readonly normalize: Normalizer,
    private readonly preTokenize: PreTokenizer,
    private readonly model: Unigram,
    /** The post-processor's single-sequence template: ids before and after the text's. */
    private readonly template: { before: number[]; after: number[] },
  ) {}

  /** Parse tokenizer.json's text (`file` names it in errors). */
  static parse(text: string, file: string): TextTokenizer {
    const bad = (why: string) => new VarScopeError('ModelLoad', `${file}: ${why}`);
    let j: Json;
    try {
      j = JSON.parse(text) as Json;
    } catch (e) {
      throw bad(`not JSON (${e instanceof Error ? e.message : String(e)})`);
    }
    const model = j.model as Json | null;
    if (!model || model.type !== 'Unigram')
      throw bad(`model ${JSON.stringify(model?.type ?? null)}: only a Unigram tokenizer (T5's) is read`);
    const vocab = model.vocab as Array<[string, number]>;
    if (!Array.isArray(vocab) || !vocab.every((v) => Array.isArray(v) && typeof v[0] === 'string' && typeof v[1] === 'number'))
      throw bad('model.vocab is not a list of [piece, score]');
    const unkId = (model.unk_id as number | null | undefined) ?? null;
    const normalize = normalizer((j.normalizer as Json | null) ?? null, file);
    const added = ((j.added_tokens as Json[] | undefined) ?? []).map((t): AddedToken => ({
      id: t.id as number,
      content: t.content as string,
      singleWord: t.single_word === true,
      lstrip: t.lstrip === true,
      rstrip: t.rstrip === true,
      normalized: t.normalized === true,
    }));
    // a normalized added token is matched by its normalized form (tokenizers' normalized_cache)
    for (const t of added) if (t.normalized) t.content = normalize(t.content);
    return new TextTokenizer(
      added.filter((t) => t.content !== ''),
      normalize,
      preTokenizer((j.pre_tokenizer as Json | null) ?? null, file),
      new Unigram(vocab, unkId, model.byte_fallback === true),
      template((j.post_processor as Json | null) ?? null, file),
    );
  }

  /** The ids of `text` truncated to `maxLength` in all, the template's tokens included (transformers' truncation=True). */
  encode(text: string, maxLength: number): number[] {
    const ids: number[] = [];
    for (const raw of this.splitAdded(text, false)) {
      if (typeof raw !== 'string') {
        ids.push(raw.id);
        continue;
      }
      for (const part of this.splitAdded(this.normalize(raw), true)) {
        if (typeof part !== 'string') ids.push(part.id);
        else for (const word of this.preTokenize([part])) ids.push(...this.model.tokenize(word));
      }
    }
    const { before, after } = this.template;
    const room = maxLength - before.length - after.length;
    if (room < 0)
      throw new VarScopeError(
        'BadRequest',
        `maxLength ${maxLength} leaves no room beside the tokenizer's ${before.length + after.length} special tokens`,
      );
    return [...before, ...ids.slice(0, room), ...after];
  }

  /** The text of a token id: an added token's content, else the model's piece; `#id` for an id in neither. */
  piece(id: number): string {
    return this.added.find((t) => t.id === id)?.content ?? this.model.piece(id) ?? `#${id}`;
  }

  /**
   * The text with the added tokens of the given kind (`normalized` or not) split out, left to right, longest match
   * first; a single_word token inside a word stays text; lstrip / rstrip tokens take the whitespace beside them.
   * Empty texts are dropped.
   */
  private splitAdded(text: string, normalized: boolean): Array<string | AddedToken> {
    const tokens = this.added.filter((t) => t.normalized === normalized);
    const out: Array<string | AddedToken> = [];
    let done = 0;
    for (let at = 0; at < text.length;) {
      let best: AddedToken | undefined;
      for (const t of tokens) if (text.startsWith(t.content, at) && t.content.length > (best?.content.length ?? 0)) best = t;
      if (!best) {
        at++;
        continue;
      }
      let start = at;
      let stop = at + best.content.length;
      at = stop;
      if (
        best.singleWord &&
        ((start > 0 && WORD_END.test(text.slice(0, start))) || (stop < text.length && WORD_START.test(text.slice(stop))))
      )
        continue;
      if (best.lstrip) {
        while (start > done && WHITESPACE.test(text[start - 1])) start--;
      }
      if (best.rstrip) {
        while (stop < text.length && WHITESPACE.test(text[stop])) stop++;
        at = stop;
      }
      if (start > done) out.push(text.slice(done, start));
      out.push(best);
      done = stop;
    }
    if (done < text.length) out.push(text.slice(done));
    return out.filter((p) => p !== '');
  }
}

/** The normalizer of tokenizer.json's `normalizer` (null: none). */
function normalizer(n: Json | null, file: string): Normalizer {
  if (!n) return (s) => s;
  switch (n.type) {
    case 'Sequence': {
      const all = (n.normalizers as Json[]).map((x) => normalizer(x, file));
      return (s) => all.reduce((acc, f) => f(acc), s);
    }
    case 'Precompiled': {
      if (!n.precompiled_charsmap) return (s) => s;
      const map = PrecompiledCharsmap.fromBase64(n.precompiled_charsmap as string, file);
      return (s) => map.normalize(s);
    }
    case 'Replace': {
      const pattern = n.pattern as { String?: string; Regex?: string };
      const content = n.content as string;
      if (pattern.String !== undefined) return (s) => s.split(pattern.String as string).join(content);
      const re = new RegExp(pattern.Regex as string, 'gu');
      return (s) => s.replace(re, () => content);
    }
    case 'Strip': {
      const left = n.strip_left !== false;
      const right = n.strip_right !== false;
      return (s) => {
        const chars = [...s];
        let a = 0;
        let b = chars.length;
        if (left) while (a < b && WHITESPACE.test(chars[a])) a++;
        if (right) while (b > a && WHITESPACE.test(chars[b - 1])) b--;
        return chars.slice(a, b).join('');
      };
    }
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD':
      return (s) => s.normalize(n.type as string);
    case 'Prepend':
      return (s) => (s ? (n.prepend as string) + s : s);
    default:
      throw new VarScopeError('ModelLoad', `${file}: normalizer ${JSON.stringify(n.type)} is not read by VARScope's tokenizer`);
  }
}

/** The pre-tokenizer of tokenizer.json's `pre_tokenizer` (null: the text is one word); empty words are dropped. */
function preTokenizer(p: Json | null, file: string): PreTokenizer {
  if (!p) return (words) => words;
  switch (p.type) {
    case 'Sequence': {
      const all = (p.pretokenizers as Json[]).map((x) => preTokenizer(x, file));
      return (words) => all.reduce((acc, f) => f(acc), words);
    }
    case 'WhitespaceSplit':
      return (words) => words.flatMap((w) => w.split(/\p{White_Space}+/u)).filter((w) => w !== '');
    case 'Metaspace': {
      const replacement = p.replacement as string;
      // add_prefix_space: false means prepend_scheme "never" (tokenizers' deserializer); the default is "always"
      const scheme = p.add_prefix_space === false ? 'never' : ((p.prepend_scheme as string | undefined) ?? 'always');
      if (scheme !== 'always' && scheme !== 'never')
        throw new VarScopeError(
          'ModelLoad',
          `${file}: Metaspace prepend_scheme ${JSON.stringify(scheme)} is not read by VARScope's tokenizer`,
        );
      const split = p.split !== false;
      return (words) =>
        words.flatMap((w) => {
          let s = w.split(' ').join(replacement);
          if (scheme === 'always' && !s.startsWith(replacement)) s = replacement + s;
          if (!split) return [s];
          // split before every replacement character, which starts the next word (MergedWithNext)
          return s.split(new RegExp(`(?=${escapeRegex(replacement)})`, 'u')).filter((x) => x !== '');
        });
    }
    default:
      throw new VarScopeError('ModelLoad', `${file}: pre_tokenizer ${JSON.stringify(p.type)} is not read by VARScope's tokenizer`);
  }
}

/** The single-sequence template of tokenizer.json's `post_processor` (null: no special tokens). */
function template(p: Json | null, file: string): { before: number[]; after: number[] } {
  if (!p) return { before: [], after: [] };
  if (p.type !== 'TemplateProcessing')
    throw new VarScopeError('ModelLoad', `${file}: post_processor ${JSON.stringify(p.type)} is not read by VARScope's tokenizer`);
  const specials = p.special_tokens as Record<string, { ids: number[] }>;
  const out = { before: [] as number[], after: [] as number[] };
  let side: 'before' | 'after' = 'before';
  for (const piece of p.single as Array<{ Sequence?: unknown; SpecialToken?: { id: string } }>) {
    if (piece.Sequence) side = 'after';
    else if (piece.SpecialToken) {
      const ids = specials[piece.SpecialToken.id]?.ids;
      if (!ids)
        throw new VarScopeError(
          'ModelLoad',
          `${file}: post_processor names ${JSON.stringify(piece.SpecialToken.id)}, not in its special_tokens`,
        );
      out[side].push(...ids);
    }
  }
  return out;
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
