/**
 * The one CSV writer (src/shared/csv.ts) read back by a strict RFC 4180 parser: quoting, formulas made plain text,
 * numbers left numbers; then the files `evaluate --images-csv` and `timeline --csv` write, on image and folder names
 * that broke them (a formula in a cell, a quote and a comma that split a field).
 */
import * as assert from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { csvCell, csvTable } from '../../../src/shared/csv';
import { TIMELINE_METRICS } from '../../../src/shared/metrics';
import { CLI_BIN, CLI_ENV, defaultModelImages, ROOT } from '../fixtures';

/** RFC 4180, strictly: a quote only opens a field or, doubled, stands for itself inside a quoted field. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (text[i] === '"') {
      for (i++; ; i++) {
        if (i >= text.length) throw new Error('a quoted field is not closed');
        if (text[i] === '"' && text[i + 1] === '"') {
          field += '"';
          i++;
        } else if (text[i] === '"') break;
        else field += text[i];
      }
      i++;
      if (i < text.length && !/[,\r\n]/.test(text[i])) throw new Error(`text after a closing quote at ${i}`);
    } else {
      for (; i < text.length && !/[,\r\n]/.test(text[i]); i++) {
        if (text[i] === '"') throw new Error(`a quote inside an unquoted field at ${i}`);
        field += text[i];
      }
    }
    row.push(field);
    if (text[i] === ',') {
      i++;
      continue;
    }
    rows.push(row);
    row = [];
    if (text[i] === '\r' && text[i + 1] === '\n') i++;
    i++;
    if (i >= text.length) return rows;
  }
}

describe('CSV', function () {
  this.timeout(300000);

  describe('the writer', () => {
    it('quotes fields holding a comma, a quote, CR or LF, doubling inner quotes, and nothing else', () => {
      assert.strictEqual(csvCell('plain text.png'), 'plain text.png');
      assert.strictEqual(csvCell('a,b'), '"a,b"');
      assert.strictEqual(csvCell('q"uote'), '"q""uote"');
      assert.strictEqual(csvCell('two\nlines'), '"two\nlines"');
      assert.strictEqual(csvCell('cr\rhere'), '"cr\rhere"');
      assert.strictEqual(csvCell(null), '');
      assert.strictEqual(csvCell(undefined), '');
      assert.strictEqual(csvCell(NaN), '');
      assert.strictEqual(csvCell(Infinity), '');
    });

    it('makes text that starts like a formula plain text, and leaves numbers (also as text) alone', () => {
      assert.strictEqual(csvCell('=HYPERLINK("x")'), `"'=HYPERLINK(""x"")"`);
      assert.strictEqual(csvCell('+cmd'), "'+cmd");
      assert.strictEqual(csvCell('-2+3'), "'-2+3");
      assert.strictEqual(csvCell('@SUM(A1)'), "'@SUM(A1)");
      assert.strictEqual(csvCell('\tcmd'), "'\tcmd");
      assert.strictEqual(csvCell('\rcmd'), `"'\rcmd"`);
      assert.strictEqual(csvCell('a=b'), 'a=b');
      assert.strictEqual(csvCell(-1.5), '-1.5');
      assert.strictEqual(csvCell(-0.001), '-0.001');
      assert.strictEqual(csvCell(1e-7), '1e-7');
      assert.strictEqual(csvCell('-1.5'), '-1.5');
      assert.strictEqual(csvCell('+3e5'), '+3e5');
    });

    it('a table reads back field for field', () => {
      const rows = [
        ['=1+2', -1.5, 'a,"b"\r\nc', null],
        ['@x', 0, '', 'tail'],
      ];
      const text = csvTable(['name', 'value', 'note', 'more'], rows);
      assert.deepStrictEqual(parseCsv(text), [
        ['name', 'value', 'note', 'more'],
        ["'=1+2", '-1.5', 'a,"b"\r\nc', ''],
        ["'@x", '0', '', 'tail'],
      ]);
    });
  });

  describe('the files the CLI writes', () => {
    let tmp: string;
    before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-csv-'))));
    after(() => tmp && fs.rmSync(tmp, { recursive: true, force: true }));

    /** `varscope ARGS` on the default model, run in `cwd`. */
    const cli = (args: string[], cwd: string) => {
      const r = spawnSync(process.execPath, [CLI_BIN, ...args, '--provider', 'cpu'], {
        cwd,
        encoding: 'utf8',
        timeout: 300000,
        env: CLI_ENV,
      });
      assert.strictEqual(r.status, 0, r.stderr);
      return r;
    };

    it('evaluate . --images-csv: image names starting with = + - @ are text cells, by their absolute paths', () => {
      const dir = path.join(tmp, 'images');
      fs.mkdirSync(dir);
      const names = ['=HYPERLINK(1).png', '+sum.png', '-neg.png', '@at.png', 'plain,comma.png'];
      const src = defaultModelImages()[0].path;
      for (const n of names) fs.copyFileSync(src, path.join(dir, n));
      cli(['evaluate', '.', '--images-csv', 'images.csv', '--json', 'ev.json'], dir);
      const rows = parseCsv(fs.readFileSync(path.join(dir, 'images.csv'), 'utf8'));
      assert.deepStrictEqual(rows[0], ['file', 'class', 'accuracy', 'nll', 'psnr', 'ssim', 'rarity']);
      assert.strictEqual(rows.length, 1 + names.length);
      for (const r of rows) assert.strictEqual(r.length, 7, r.join('|'));
      // every file by its absolute path, as the Dataset view opens it (the folder given as "."): each one cell
      assert.deepStrictEqual(
        rows
          .slice(1)
          .map((r) => r[0])
          .sort(),
        names.map((n) => path.join(fs.realpathSync(dir), n)).sort(),
      );
      const ev = JSON.parse(fs.readFileSync(path.join(dir, 'ev.json'), 'utf8'));
      for (const r of rows.slice(1)) {
        const img = ev.perImage.find((i: { file: string }) => csvCell(i.file) === r[0] || i.file === r[0]);
        assert.ok(img, r[0]);
        assert.strictEqual(Number(r[1]), img.classId);
        assert.ok(Math.abs(Number(r[3]) - img.nll) < 1e-5 * img.nll, `${r[3]} vs ${img.nll}`);
      }
    });

    it('timeline --csv: a checkpoint folder named q"uote,step5 stays one field (as many per row as the header)', () => {
      const run = path.join(tmp, 'run');
      const ckpt = path.join(run, 'q"uote,step5');
      fs.mkdirSync(run);
      fs.cpSync(path.join(ROOT, 'models', 'emoji64-d4'), ckpt, { recursive: true });
      const images = path.join(tmp, 'two');
      fs.mkdirSync(images);
      for (const img of defaultModelImages()) fs.copyFileSync(img.path, path.join(images, img.file));
      cli(['timeline', images, '--checkpoints', run, '--csv', path.join(tmp, 'run.csv'), '--json', path.join(tmp, 'run.json')], tmp);
      const rows = parseCsv(fs.readFileSync(path.join(tmp, 'run.csv'), 'utf8'));
      const header = ['step', 'model', 'scale', 'pn', ...TIMELINE_METRICS];
      const nll = header.indexOf('nll');
      assert.deepStrictEqual(rows[0], header);
      const j = JSON.parse(fs.readFileSync(path.join(tmp, 'run.json'), 'utf8'));
      const ev = j.evaluations[0];
      assert.strictEqual(rows.length, 1 + ev.scales.length);
      rows.slice(1).forEach((r, k) => {
        assert.strictEqual(r.length, header.length, r.join('|'));
        assert.strictEqual(r[1], fs.realpathSync(ckpt));
        assert.deepStrictEqual([Number(r[0]), Number(r[2]), Number(r[3])], [ev.model.step, k, ev.scales[k].pn]);
        assert.ok(Math.abs(Number(r[nll]) - ev.scales[k].nll) <= 1e-6 * ev.scales[k].nll, `${r[nll]} vs ${ev.scales[k].nll}`);
      });
    });
  });
});
