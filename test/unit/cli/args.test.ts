/**
 * CLI argument parsing: positionals, --flag value, --flag=value, defaults, required flags, errors.
 */
import * as assert from 'assert';
import { CommandSpec, helpText, num, parseArgs, UsageError } from '../../../src/cli/args';

const SPEC: CommandSpec = {
  name: 'demo',
  summary: 'demo command',
  positionals: ['IMAGE'],
  options: { model: { help: 'model' }, class: { help: 'class', required: true }, cfg: { help: 'cfg', default: '4' } },
  switches: { verbose: 'talk more' },
};

describe('CLI arguments', () => {
  it('parses positionals, both option forms, defaults and switches', () => {
    const a = parseArgs(SPEC, ['img.png', '--model', 'm', '--class=3', '--verbose']);
    assert.deepStrictEqual(a.positionals, ['img.png']);
    assert.deepStrictEqual(a.options, { model: 'm', class: '3', cfg: '4' });
    assert.ok(a.switches.has('verbose'));
    assert.strictEqual(num(a, 'class', { int: true, min: 0 }), 3);
  });

  it('a last positional named "NAME..." takes one or more', () => {
    const merge: CommandSpec = { name: 'merge', summary: 'merge', positionals: ['PARTS...'], options: {} };
    assert.deepStrictEqual(parseArgs(merge, ['a.json', 'b.json', 'c.json']).positionals, ['a.json', 'b.json', 'c.json']);
    assert.deepStrictEqual(parseArgs(merge, ['a.json']).positionals, ['a.json']);
    assert.throws(() => parseArgs(merge, []), /missing PARTS\.\.\./);
  });

  it('reports usage errors', () => {
    assert.throws(
      () => parseArgs(SPEC, ['img.png']),
      (e: unknown) => e instanceof UsageError && /--class is required/.test(e.message),
    );
    assert.throws(() => parseArgs(SPEC, ['--class', '1']), /missing IMAGE/);
    assert.throws(() => parseArgs(SPEC, ['a', 'b', '--class', '1']), /unexpected argument b/);
    assert.throws(() => parseArgs(SPEC, ['a', '--class', '1', '--nope', '2']), /unknown option --nope/);
    assert.throws(() => parseArgs(SPEC, ['a', '--class']), /--class needs a value/);
    const a = parseArgs(SPEC, ['a', '--class', 'x']);
    assert.throws(() => num(a, 'class'), /must be a number/);
    const b = parseArgs(SPEC, ['a', '--class', '1.5']);
    assert.throws(() => num(b, 'class', { int: true }), /integer/);
  });

  it('--help wins over missing arguments and help lists every option', () => {
    assert.ok(parseArgs(SPEC, ['--help']).switches.has('help'));
    const h = helpText(SPEC);
    for (const s of ['usage: varscope demo IMAGE', '--model', '--class', '(required)', '(default 4)', '--verbose', '--help'])
      assert.ok(h.includes(s), s);
  });
});
