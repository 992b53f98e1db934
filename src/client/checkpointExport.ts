/**
 * Runs the Python side (python/varscope) for a checkpoint: `varscope.describe` (which models a file holds) and
 * `varscope.export` (checkpoint -> verified bundle) with its stages parsed from the output. The child runs in its
 * own process group so that a cancel also stops the verifier it starts.
 */
import { spawn } from 'child_process';
import * as path from 'path';
import { VarScopeError } from '../shared/errors';
import { INFINITY_GRAPH_ROLES, INFINITY_OPTIONAL_GRAPH_ROLES } from '../shared/manifest';

/** The folder holding the `varscope` Python package in a checkout or an installed extension (`root`): python/. */
export function pythonPackageDir(root: string): string {
  return path.join(root, 'python');
}

/** PYTHONPATH with the package folder first, so that this copy of `varscope` wins over any other on the path. */
export function pythonPathWith(packageDir: string, inherited = process.env.PYTHONPATH): string {
  return [packageDir, inherited].filter(Boolean).join(path.delimiter);
}

/** One stage of an export, as the progress notification names it. */
export interface ExportStage {
  stage: 'load' | 'config' | 'graph' | 'verify' | 'done';
  /** e.g. "export graph 3 of 6". */
  message: string;
  k?: number;
  n?: number;
}

/** How to run the Python package. */
export interface PythonRun {
  /** The interpreter (pythonFinder). */
  python: string;
  /** Folder holding the `varscope` package (pythonPackageDir). */
  packageDir: string;
  /** Node used by the exporter's verifier (default: this process's executable, run as Node). */
  nodePath?: string;
  /** Every output line (stdout and stderr) for the log. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Aborting kills the whole process group. */
  signal?: AbortSignal;
  /** Python's warnings reach onLine (the log) instead of being ignored. */
  warnings?: boolean;
}

/** The stage a line of the exporter's output starts, if any. */
export function parseExportLine(line: string): ExportStage | undefined {
  if (line.startsWith('loading ')) return { stage: 'load', message: 'load the checkpoints' };
  if (line.startsWith('config: ')) return { stage: 'config', message: 'infer the configuration' };
  const g = /^exporting (\w+)\.onnx \(graph (\d+) of (\d+)\)/.exec(line);
  if (g) return { stage: 'graph', message: `export graph ${g[2]} of ${g[3]} (${g[1]})`, k: Number(g[2]), n: Number(g[3]) };
  // python/varscope/infinity/onnx_export.py: a schedule's graphs in this order
  const inf = /^exporting (\w+)-(hw[\d.]+-[\d.]+M)\.onnx$/.exec(line);
  if (inf) {
    const roles: readonly string[] = [...INFINITY_GRAPH_ROLES, ...INFINITY_OPTIONAL_GRAPH_ROLES];
    const k = roles.indexOf(inf[1]) + 1;
    return { stage: 'graph', message: `export ${inf[1]} (${inf[2]})`, ...(k ? { k, n: roles.length } : {}) };
  }
  if (line.startsWith('computing PyTorch reference outputs')) return { stage: 'verify', message: 'verify: PyTorch reference outputs' };
  if (line.startsWith('running the graphs with onnxruntime-node')) return { stage: 'verify', message: 'verify: the graphs in onnxruntime' };
  if (line.startsWith('ok: bundle ')) return { stage: 'done', message: 'done' };
  return undefined;
}

/** Runs `python -m <module> ...args`; resolves with its exit code and output; rejects Cancelled when aborted. */
export function runPythonModule(run: PythonRun, module: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    if (run.signal?.aborted) {
      reject(new VarScopeError('Cancelled', 'cancelled'));
      return;
    }
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PYTHONPATH: pythonPathWith(run.packageDir),
      PYTHONUNBUFFERED: '1',
      PYTHONWARNINGS: run.warnings ? 'default' : 'ignore',
      VARSCOPE_NODE: run.nodePath ?? process.execPath,
      // In VS Code the executable is Electron: this makes it behave as Node for the verifier.
      ELECTRON_RUN_AS_NODE: '1',
    };
    const child = spawn(run.python, ['-m', module, ...args], {
      env,
      detached: process.platform !== 'win32',
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
    });
    const out = { stdout: '', stderr: '' };
    const pending = { stdout: '', stderr: '' };
    const feed = (stream: 'stdout' | 'stderr', chunk: Buffer) => {
      const text = pending[stream] + chunk.toString();
      const lines = text.split('\n');
      pending[stream] = lines.pop() ?? '';
      for (const l of lines) emit(stream, l);
    };
    const emit = (stream: 'stdout' | 'stderr', l: string) => {
      if (out[stream].length < 4 << 20) out[stream] += l + '\n';
      run.onLine?.(l, stream);
    };
    child.stdout.on('data', (c: Buffer) => feed('stdout', c));
    child.stderr.on('data', (c: Buffer) => feed('stderr', c));
    let cancelled = false;
    const kill = () => {
      cancelled = true;
      try {
        if (child.pid !== undefined) process.kill(process.platform === 'win32' ? child.pid : -child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL'); // the group is gone already, or no groups here
      }
    };
    run.signal?.addEventListener('abort', kill, { once: true });
    child.on('error', (e) => {
      run.signal?.removeEventListener('abort', kill);
      reject(new VarScopeError('ModelLoad', `cannot run ${run.python}: ${e.message}`));
    });
    child.on('close', (code, sig) => {
      run.signal?.removeEventListener('abort', kill);
      for (const s of ['stdout', 'stderr'] as const) if (pending[s]) emit(s, pending[s]);
      if (cancelled) reject(new VarScopeError('Cancelled', 'export cancelled'));
      else resolve({ code: code ?? (sig ? 1 : 0), ...out });
    });
  });
}

/** The last "error: ..." line the Python side printed, else its last stderr line. */
export function pythonError(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const err = [...lines].reverse().find((l) => l.startsWith('error: '));
  return (err ? err.slice('error: '.length) : lines[lines.length - 1]) ?? 'no message';
}

/** Which models each file holds (`varscope.describe`): roles ⊆ ['vae', 'var'], or the file's one-line error. */
export async function describeCheckpoints(
  run: PythonRun,
  files: string[],
): Promise<{ path: string; roles: ('vae' | 'var')[]; error: string | null }[]> {
  const r = await runPythonModule(run, 'varscope.describe', files);
  const last = r.stdout.trim().split('\n').pop() ?? '';
  try {
    if (r.code !== 0) throw new Error('exit ' + r.code);
    return (JSON.parse(last) as { files: { path: string; roles: ('vae' | 'var')[]; error: string | null }[] }).files;
  } catch {
    throw new VarScopeError('ModelLoad', `reading the checkpoints failed: ${pythonError(r.stderr)}`, r.stderr);
  }
}

/**
 * Exports a checkpoint pair to `out`, verified against PyTorch by the exporter: a VAR pair through varscope.export, an
 * Infinity pair (`family` 'infinity': its BSQ VAE as `vae`, its transformer as `var`) through varscope.infinity.export;
 * stages reach `onStage`.
 */
export async function exportCheckpoint(
  run: PythonRun,
  opts: {
    vae: string;
    var: string;
    out: string;
    id: string;
    name: string;
    family?: 'var' | 'infinity';
    /** Infinity: the aspect ratios (h/w) to export a schedule for (default: the exporter's, 1:1). */
    ratios?: number[];
    onStage?: (s: ExportStage) => void;
  },
): Promise<void> {
  const infinity = opts.family === 'infinity';
  const names = ['--out', opts.out, '--id', opts.id, '--name', opts.name];
  if (infinity && opts.ratios?.length) names.push('--ratios', opts.ratios.join(','));
  const onLine = run.onLine;
  const r = await runPythonModule(
    {
      ...run,
      warnings: true, // torch's tracer warnings go to the log (--verbose), never to the user
      onLine: (line, stream) => {
        onLine?.(line, stream);
        const s = stream === 'stdout' ? parseExportLine(line) : undefined;
        if (s) opts.onStage?.(s);
      },
    },
    infinity ? 'varscope.infinity.export' : 'varscope.export',
    infinity ? ['--vae', opts.vae, '--infinity', opts.var, ...names] : ['--vae', opts.vae, '--var', opts.var, ...names, '--verbose'],
  );
  if (r.code !== 0) throw new VarScopeError('ModelLoad', `export failed: ${pythonError(r.stderr)}`, r.stderr);
}
