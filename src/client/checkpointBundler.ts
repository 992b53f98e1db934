/**
 * A checkpoint made into a bundle, the fast way when it can be: the TypeScript reader (src/node/checkpoint) reads the
 * tensors and, when an architecture template fits them (src/node/templateStore.ts), the bundle is written from the
 * template with no Python at all. Otherwise the Python exporter runs as before, and its bundle's template is kept, so
 * the next checkpoint of that architecture takes the fast path. Open Checkpoint, `varscope export`, the timeline and
 * watch mode all come here.
 */
import * as path from 'path';
import type { ConsistencyWarning } from '../shared/consistency';
import { VarScopeError } from '../shared/errors';
import type { BundleManifest } from '../shared/manifest';
import { FileChangedError, readCheckpoint, type CheckpointContents } from '../node/checkpoint';
import { readManifest, writeBundleFromTemplate } from '../node/bundleTemplate';
import { trainerWarnings, vaePairWarnings } from '../node/checkpointConsistency';
import { CHECKPOINT_ROLES, type CheckpointRole } from '../node/template/weightMap';
import { findMatchingTemplate, keepTemplate, templateStoreDir } from '../node/templateStore';
import { globalIteration } from '../node/trainingStep';
import { describeCheckpoints, exportCheckpoint, pythonPackageDir, type ExportStage, type PythonRun } from './checkpointExport';
import { findPython, pythonCandidates } from './pythonFinder';
import type { MadeBundle } from './runWatch';

/** The two checkpoint files of a bundle (the same file when it holds both models, as the official trainer's does). */
export interface CheckpointFiles {
  vae: string;
  var: string;
}

export interface BundlerOptions {
  /** Folders of bundles searched for a template, in order. */
  templateFolders: string[];
  /** Where the template of a Python export is kept. */
  store: string;
  /** The Python that exports what no template fits (undefined: there is none; the miss is the error). */
  python?: (signal?: AbortSignal) => Promise<PythonRun>;
  /** Routine facts for a log. */
  log?: (line: string) => void;
}

/** Which models a checkpoint file holds (of which family), or why it cannot be read. */
export interface CheckpointDescription {
  path: string;
  roles: CheckpointRole[];
  /** 'infinity': its roles are an Infinity model's (vae: the BSQ VAE, var: the transformer). */
  family: 'var' | 'infinity';
  error: string | null;
}

/** A model's two checkpoints in words, by family (for messages). */
export const ROLE_NAMES = {
  var: { vae: 'VQ-VAE', var: 'VAR transformer' },
  infinity: { vae: 'BSQ VAE', var: 'Infinity transformer' },
} as const;

/** What make() is told about the bundle it writes. */
export interface MakeOptions {
  id: string;
  name: string;
  signal?: AbortSignal;
  /** Only the template path: a miss is an error, Python never runs. */
  templateOnly?: boolean;
  /** An Infinity checkpoint's aspect ratios (h/w, template ratios of the official table): a schedule each; default 1:1. */
  ratios?: number[];
  onStage?: (s: ExportStage | { stage: 'template'; message: string }) => void;
}

/** The templates shipped with VARScope (the released architectures): `templates/` in the package. */
export function shippedTemplates(packageRoot: string): string {
  return path.join(packageRoot, 'templates');
}

export class CheckpointBundler {
  constructor(private readonly o: BundlerOptions) {}

  /** The CLI's bundler: the user's store and the shipped templates; Python as `varscope export` finds it. */
  static forCli(packageRoot: string, python?: string): CheckpointBundler {
    const store = templateStoreDir();
    return new CheckpointBundler({
      templateFolders: [store, shippedTemplates(packageRoot)],
      store,
      python: async (signal) => {
        const explicit = python ? { command: python, source: '--python' } : undefined;
        const choice = await findPython(pythonCandidates({ explicit }), { settingName: '--python (or VARSCOPE_PYTHON)' });
        return { python: choice.found.command, packageDir: pythonPackageDir(packageRoot), signal };
      },
      log: (line) => process.env.VARSCOPE_VERBOSE === '1' && process.stderr.write(`varscope: ${line}\n`),
    });
  }

  /**
   * Which models each file holds, read by the TypeScript reader; a file it cannot read goes to Python's describe
   * when there is a Python (which then says why), else its error is given.
   */
  async describe(files: string[], signal?: AbortSignal): Promise<CheckpointDescription[]> {
    const found = new Map<string, CheckpointDescription>();
    const toPython: string[] = [];
    for (const file of files) {
      try {
        const c = await readCheckpoint(file);
        await c.close();
        found.set(file, { path: file, roles: CHECKPOINT_ROLES.filter((r) => c.roles[r]), family: c.family, error: null });
      } catch (e) {
        if (this.o.python && !(e instanceof FileChangedError)) toPython.push(file);
        else found.set(file, { path: file, roles: [], family: 'var', error: VarScopeError.toWire(e).message });
      }
    }
    if (toPython.length && this.o.python) {
      const described = await describeCheckpoints(await this.o.python(signal), toPython);
      toPython.forEach((file, i) => found.set(file, { ...described[i], family: 'var', path: file }));
    }
    return files.map((f) => found.get(f)!);
  }

  /**
   * A folder of the bundler's own for bundles that live only while they are evaluated: inside the store, hidden (never
   * taken for a template), so that nothing is written beside a folder the user named in VARSCOPE_TEMPLATES.
   */
  workDir(): string {
    return path.join(this.o.store, '.work');
  }

  /**
   * Writes the bundle of `files` at `out`: from a template when one fits, else through Python (keeping its template).
   * The result's warnings say where the checkpoint disagrees with the bundle (checkpointConsistency.ts), when the
   * TypeScript reader could read it.
   */
  async make(files: CheckpointFiles, out: string, opts: MakeOptions): Promise<MadeBundle> {
    const t0 = Date.now();
    let miss: string;
    let meta: CheckpointContents['meta'] = {};
    let vaeWarnings: ConsistencyWarning[] = [];
    let infinity = false;
    let refusal: VarScopeError | undefined; // what Python would not change: said at once
    const warnings = () => (infinity ? [] : [...vaeWarnings, ...trainerWarnings(meta, readManifest<BundleManifest>(out))]);
    const opened: CheckpointContents[] = [];
    try {
      opened.push(await readCheckpoint(files.var));
      if (files.vae !== files.var) opened.push(await readCheckpoint(files.vae));
      const family = opened[0].family;
      const other = opened.find((c) => c.family !== family);
      if (other)
        throw (refusal = new VarScopeError(
          'ModelLoad',
          `${files.var} is ${family === 'infinity' ? 'an Infinity' : 'a VAR'} checkpoint and ${other.file} ${other.family === 'infinity' ? 'an Infinity' : 'a VAR'} one: a model's two checkpoints are of one family`,
        ));
      const names = ROLE_NAMES[family];
      const varSd = opened[0].roles.var;
      const vaeSd = opened[opened.length - 1].roles.vae;
      if (!varSd) throw new VarScopeError('ModelLoad', `${files.var} holds no ${names.var}`);
      if (!vaeSd)
        throw new VarScopeError(
          'ModelLoad',
          `${files.vae} holds no ${names.vae}${files.vae === files.var ? `: give the ${names.vae} checkpoint beside it` : ''}`,
        );
      if (family === 'infinity') {
        // No architecture templates for Infinity (yet): its Python exporter writes the bundle.
        if (!this.o.python || opts.templateOnly)
          throw (refusal = new VarScopeError(
            'ModelLoad',
            `${path.basename(files.var)}: an Infinity checkpoint, which needs Python to export (varscope.pythonPath / --python)`,
          ));
        infinity = true;
      }
      meta = opened[0].meta;
      if (infinity) miss = 'an Infinity checkpoint (exported with Python)';
      else {
        const storedVae = opened[0].roles.vae;
        if (storedVae && opened.length > 1)
          vaeWarnings = await vaePairWarnings({ file: files.var, sd: storedVae }, { file: files.vae, sd: vaeSd }, opts.signal);
        const found = findMatchingTemplate(this.o.templateFolders, { vae: vaeSd, var: varSd });
        if ('dir' in found) {
          opts.onStage?.({ stage: 'template', message: 'write the bundle from its architecture template' });
          await writeBundleFromTemplate(found.dir, { vae: vaeSd, var: varSd }, out, { id: opts.id, name: opts.name, signal: opts.signal });
          this.o.log?.(`${path.basename(files.var)}: bundle written from the template ${found.dir} in ${Date.now() - t0} ms`);
          return { epoch: meta.epoch, iter: meta.iter, via: 'template', ms: Date.now() - t0, warnings: warnings() };
        }
        miss = found.miss;
      }
    } catch (e) {
      // A file that changed under the read, a cancel, or a file Python would refuse as well: said as it is.
      const python = this.o.python && !opts.templateOnly;
      if (e === refusal || e instanceof FileChangedError || (e instanceof VarScopeError && e.code === 'Cancelled') || !python) throw e;
      miss = `the TypeScript reader: ${VarScopeError.toWire(e).message}`;
    } finally {
      await Promise.all(opened.map((c) => c.close()));
    }
    if (!this.o.python || opts.templateOnly)
      throw new VarScopeError(
        'ModelLoad',
        `${path.basename(files.var)}: ${miss}, and no Python to export it (varscope.pythonPath / --python)`,
      );
    this.o.log?.(`${path.basename(files.var)}: ${miss}; exporting with Python`);
    const run = await this.o.python(opts.signal).catch((e: unknown) => {
      throw new VarScopeError('ModelLoad', `${path.basename(files.var)}: ${miss}; ${VarScopeError.toWire(e).message}`);
    });
    await exportCheckpoint(
      { ...run, signal: opts.signal ?? run.signal },
      { ...files, out, id: opts.id, name: opts.name, family: infinity ? 'infinity' : 'var', ratios: opts.ratios, onStage: opts.onStage },
    );
    if (infinity)
      return { epoch: meta.epoch, iter: meta.iter, step: globalIteration(meta), via: 'python', ms: Date.now() - t0, warnings: [] };
    const kept = await keepTemplate(out, this.o.store).catch((e) => {
      this.o.log?.(`the new bundle's template was not kept: ${VarScopeError.toWire(e).message}`);
      return undefined;
    });
    if (kept) this.o.log?.(`template kept: ${kept}`);
    return { epoch: meta.epoch, iter: meta.iter, via: 'python', ms: Date.now() - t0, warnings: warnings() };
  }
}
