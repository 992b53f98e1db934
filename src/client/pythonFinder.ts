/**
 * Which Python runs the exporter: the first candidate (setting or --python, the Python extension's interpreter,
 * python3 on PATH, /usr/bin/python3) that starts and has torch >= 1.13 and onnx. Each candidate is probed with a
 * tiny script under a timeout; why the others were skipped is kept for the log.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { VarScopeError } from '../shared/errors';

/** A Python to try and where it came from (for the log). */
export interface PythonCandidate {
  /** An executable path, or a bare name looked up on PATH. */
  command: string;
  /** e.g. "varscope.pythonPath setting", "python3 on PATH". */
  source: string;
}

/** The outcome of probing one candidate. */
export interface PythonProbe extends PythonCandidate {
  ok: boolean;
  /** Why it was skipped (missing, timed out, no torch, torch too old, no onnx). */
  reason?: string;
  python?: string;
  torch?: string;
  onnx?: string;
}

/** The chosen interpreter and every probe made on the way. */
export interface PythonChoice {
  found: PythonProbe;
  probes: PythonProbe[];
}

/** Oldest torch whose weights_only loading the exporter relies on. */
export const MIN_TORCH: [number, number] = [1, 13];

// Prints versions as JSON; imports fail loudly with the module's name.
const PROBE = [
  'import json, sys',
  'out = {"python": sys.version.split()[0], "executable": sys.executable}',
  'for m in ("torch", "onnx"):',
  '    try:',
  '        out[m] = __import__(m).__version__',
  '    except Exception as e:',
  '        out[m + "Error"] = "%s: %s" % (type(e).__name__, e)',
  'print("VARSCOPE_PROBE " + json.dumps(out))',
].join('\n');

/** The candidates in order: explicit choice, the editor's interpreter, python3 on PATH, /usr/bin/python3. */
export function pythonCandidates(opts: { explicit?: PythonCandidate; editor?: PythonCandidate; envPath?: string }): PythonCandidate[] {
  const out: PythonCandidate[] = [];
  if (opts.explicit?.command.trim()) out.push(opts.explicit);
  if (opts.editor?.command.trim()) out.push(opts.editor);
  const onPath = whichOnPath('python3', opts.envPath ?? process.env.PATH ?? '');
  if (onPath) out.push({ command: onPath, source: 'python3 on PATH' });
  out.push({ command: '/usr/bin/python3', source: '/usr/bin/python3' });
  // The same interpreter reached twice is probed once.
  const seen = new Set<string>();
  return out.filter((c) => {
    const key = safeRealpath(c.command);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The first executable `name` in the PATH string, or undefined. */
export function whichOnPath(name: string, envPath: string): string | undefined {
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

function safeRealpath(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return p;
  }
}

/** Probes one candidate: starts it with the probe script and checks the versions it reports. */
export function probePython(c: PythonCandidate, timeoutMs = 30000): Promise<PythonProbe> {
  return new Promise((resolve) => {
    execFile(
      c.command,
      ['-c', PROBE],
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1 << 20, windowsHide: true },
      (err, stdout, stderr) => {
        const line = stdout.split('\n').find((l) => l.startsWith('VARSCOPE_PROBE '));
        if (!line) {
          const e = err as (NodeJS.ErrnoException & { killed?: boolean; code?: unknown }) | null;
          const reason = e?.killed
            ? `did not answer within ${Math.round(timeoutMs / 1000)} s`
            : e?.code === 'ENOENT'
              ? 'not found'
              : e?.code === 'EACCES'
                ? 'not executable'
                : `did not run (${firstLine(stderr) || firstLine(e?.message ?? '') || 'no output'})`;
          resolve({ ...c, ok: false, reason });
          return;
        }
        let info: Record<string, string>;
        try {
          info = JSON.parse(line.slice('VARSCOPE_PROBE '.length)) as Record<string, string>;
        } catch {
          resolve({ ...c, ok: false, reason: 'printed an unreadable answer' });
          return;
        }
        const probe: PythonProbe = { ...c, ok: false, python: info.python, torch: info.torch, onnx: info.onnx };
        if (!info.torch) probe.reason = `Python ${info.python ?? '?'} has no torch (${info.torchError ?? 'import failed'})`;
        else if (!versionAtLeast(info.torch, MIN_TORCH)) probe.reason = `torch ${info.torch} is older than ${MIN_TORCH.join('.')}`;
        else if (!info.onnx)
          probe.reason = `Python ${info.python ?? '?'} has torch ${info.torch} but no onnx (${info.onnxError ?? 'import failed'})`;
        else probe.ok = true;
        resolve(probe);
      },
    );
  });
}

function firstLine(s: string): string {
  return s.trim().split('\n').pop()?.trim().slice(0, 200) ?? '';
}

/** "1.13.0a0", "2.1.0+cu118" >= [major, minor]. */
export function versionAtLeast(version: string, min: [number, number]): boolean {
  const m = /^(\d+)\.(\d+)/.exec(version);
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > min[0] || (major === min[0] && minor >= min[1]);
}

/** Probes the candidates in order; the first that passes wins. Throws ModelLoad naming what to install and the setting. */
export async function findPython(
  candidates: PythonCandidate[],
  opts: { timeoutMs?: number; settingName?: string; log?: (line: string) => void } = {},
): Promise<PythonChoice> {
  const probes: PythonProbe[] = [];
  for (const c of candidates) {
    const p = await probePython(c, opts.timeoutMs);
    probes.push(p);
    if (p.ok) {
      opts.log?.(`Python for export: ${p.command} (${p.source}; Python ${p.python}, torch ${p.torch}, onnx ${p.onnx})`);
      return { found: p, probes };
    }
    opts.log?.(`skipped Python ${p.command} (${p.source}): ${p.reason}`);
  }
  const setting = opts.settingName ?? 'varscope.pythonPath';
  throw new VarScopeError(
    'ModelLoad',
    `No Python with PyTorch >= ${MIN_TORCH.join('.')} and onnx found: install them (pip install torch onnx) into your Python and point ${setting} at it.`,
    probes.map((p) => `${p.command} (${p.source}): ${p.reason}`).join('\n'),
  );
}
