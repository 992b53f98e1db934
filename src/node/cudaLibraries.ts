/**
 * Finds what onnxruntime-node's CUDA provider needs on Linux x64: its two provider libraries and the CUDA 12 and
 * cuDNN 9 libraries they link to, in the places researchers already have them, and says exactly what is missing or
 * which version does not match.
 *
 * Where, in order: the folder of the varscope.cudaLibraryPath setting; the `nvidia-*` wheels of the Python
 * environment VARScope exports with (site-packages/nvidia/<name>/lib, as PyTorch installs them); an
 * `onnxruntime-gpu` wheel of exactly onnxruntime-node's version (site-packages/onnxruntime/capi); the system's
 * library folders. NOTE: onnxruntime loads libonnxruntime_providers_*.so only from the folder of its own
 * libonnxruntime.so (bin/napi-v6/linux/x64 of onnxruntime-node); the CUDA and cuDNN libraries it then loads are
 * found through LD_LIBRARY_PATH, which the engine client sets from `libraryDirs` when it starts the engine.
 */
import * as fs from 'fs';
import * as path from 'path';

/** A library the CUDA provider loads: its file name, the nvidia-* wheel folder that ships it, and what it is. */
interface Needed {
  file: string;
  wheel: string;
  what: string;
}

/** onnxruntime 1.30's CUDA provider: CUDA 12 (cudart, cuBLAS, cuFFT, cuRAND) and cuDNN 9. */
export const CUDA_NEEDS: Needed[] = [
  { file: 'libcudart.so.12', wheel: 'cuda_runtime', what: 'CUDA 12 runtime' },
  { file: 'libcublas.so.12', wheel: 'cublas', what: 'cuBLAS 12' },
  { file: 'libcublasLt.so.12', wheel: 'cublas', what: 'cuBLAS 12' },
  { file: 'libcufft.so.11', wheel: 'cufft', what: 'cuFFT 11 of CUDA 12' },
  { file: 'libcurand.so.10', wheel: 'curand', what: 'cuRAND 10 of CUDA 12' },
  { file: 'libcudnn.so.9', wheel: 'cudnn', what: 'cuDNN 9' },
];
/** The provider libraries, which must sit beside onnxruntime's own library. */
export const PROVIDER_LIBS = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'];
/** The NVIDIA driver's library (never in a wheel). */
const DRIVER_LIB = 'libcuda.so.1';
/** Where Linux distributions and NVIDIA's installers put libraries. */
export const SYSTEM_LIBRARY_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/local/cuda/lib64', '/usr/lib/wsl/lib', '/usr/lib'];

/** What to search. */
export interface CudaSearch {
  /** onnxruntime-node's binary folder (holding libonnxruntime.so.1) and its version. */
  ortDir: string;
  ortVersion: string;
  /** The varscope.cudaLibraryPath setting. */
  cudaLibraryPath?: string;
  /** The Python interpreter VARScope exports with (its environment's site-packages are searched). */
  python?: string;
  /** System library folders (default SYSTEM_LIBRARY_DIRS plus LD_LIBRARY_PATH). */
  systemDirs?: string[];
}

/** What was found. */
export interface CudaLibraryReport {
  /** Folders to put on LD_LIBRARY_PATH, in search order, without duplicates. */
  libraryDirs: string[];
  /** Full path of each library found, by file name. */
  found: Record<string, string>;
  /** One sentence per problem: a library missing, or one whose version does not match; empty when all is there. */
  problems: string[];
}

/** Search the places above for what the CUDA provider needs. Reads folders only; never throws. */
export function findCudaLibraries(s: CudaSearch): CudaLibraryReport {
  const sitePackages = s.python ? sitePackagesOf(s.python) : [];
  const system = s.systemDirs ?? [...SYSTEM_LIBRARY_DIRS, ...(process.env.LD_LIBRARY_PATH ?? '').split(path.delimiter).filter(Boolean)];
  const found: Record<string, string> = {};
  const problems: string[] = [];
  const dirs: string[] = [];
  const use = (dir: string, file: string) => {
    found[file] = path.join(dir, file);
    if (!dirs.includes(dir)) dirs.push(dir);
  };

  // The provider libraries: beside onnxruntime, else somewhere they could be copied from.
  const providerHere = PROVIDER_LIBS.filter((f) => isFile(path.join(s.ortDir, f)));
  for (const f of providerHere) found[f] = path.join(s.ortDir, f);
  if (providerHere.length < PROVIDER_LIBS.length) {
    const missing = PROVIDER_LIBS.filter((f) => !providerHere.includes(f));
    const elsewhere = providerSources(s, sitePackages, problems).find((dir) => missing.every((f) => isFile(path.join(dir, f))));
    problems.push(
      elsewhere
        ? `${missing.join(' and ')} found in ${elsewhere}, but onnxruntime loads them only from its own folder: copy them into ${s.ortDir}`
        : `${missing.join(' and ')} not found in ${s.ortDir}${s.cudaLibraryPath ? ` nor in ${s.cudaLibraryPath}` : ''}${sitePackages.length ? ` nor in an onnxruntime-gpu ${s.ortVersion} wheel of ${s.python}` : ''} (npm installs them with onnxruntime-node on Linux x64 unless ONNXRUNTIME_NODE_INSTALL=skip; or pip install onnxruntime-gpu==${s.ortVersion})`,
    );
  }

  // CUDA and cuDNN: the setting's folder, the nvidia-* wheels, the system.
  const wheels = sitePackages.map((sp) => path.join(sp, 'nvidia'));
  for (const need of CUDA_NEEDS) {
    const candidates = [s.cudaLibraryPath, ...wheels.map((w) => path.join(w, need.wheel, 'lib')), ...system].filter(
      (d): d is string => !!d,
    );
    const dir = candidates.find((d) => isFile(path.join(d, need.file)));
    if (dir) {
      use(dir, need.file);
      continue;
    }
    const other = otherVersion(candidates, need.file);
    const wheel = other ? wheelVersion(path.resolve(other, '../../../..'), need.wheel) : undefined; // <sp>/nvidia/<wheel>/lib/<file>
    problems.push(
      other
        ? `${need.file} (${need.what}) not found; ${other}${wheel ? ` (${wheel})` : ''} is another version: onnxruntime-node ${s.ortVersion}'s CUDA provider needs ${need.what}`
        : `${need.file} (${need.what}) not found in ${describeWhere(s, sitePackages)}`,
    );
  }
  const driver = system.find((d) => isFile(path.join(d, DRIVER_LIB)));
  if (driver) found[DRIVER_LIB] = path.join(driver, DRIVER_LIB);
  else problems.push(`${DRIVER_LIB} (the NVIDIA driver) not found in ${system.join(', ')}`);
  return { libraryDirs: dirs, found, problems };
}

/** Folders that may hold the provider libraries, noting an onnxruntime-gpu wheel of another version as a problem. */
function providerSources(s: CudaSearch, sitePackages: string[], problems: string[]): string[] {
  const out = s.cudaLibraryPath ? [s.cudaLibraryPath] : [];
  for (const sp of sitePackages) {
    const capi = path.join(sp, 'onnxruntime', 'capi');
    if (!isFile(path.join(capi, 'libonnxruntime_providers_cuda.so'))) continue;
    const version = distVersion(sp, 'onnxruntime_gpu');
    if (version === s.ortVersion) out.push(capi);
    else
      problems.push(
        `onnxruntime-gpu ${version ?? '(unknown version)'} in ${sp} does not match onnxruntime-node ${s.ortVersion}: its CUDA provider cannot be used (pip install onnxruntime-gpu==${s.ortVersion})`,
      );
  }
  return out;
}

/**
 * site-packages folders of an interpreter's environment, from its path (a venv or conda layout: <prefix>/bin/python
 * with <prefix>/lib/python3.X/site-packages), without running it.
 */
export function sitePackagesOf(python: string): string[] {
  const prefix = path.dirname(path.dirname(python));
  const out: string[] = [];
  for (const lib of ['lib', 'lib64', path.join('local', 'lib')]) {
    let names: string[];
    try {
      names = fs.readdirSync(path.join(prefix, lib));
    } catch {
      continue;
    }
    for (const n of names.filter((x) => /^python3\.\d+$/.test(x)).sort()) {
      for (const sub of ['site-packages', 'dist-packages']) {
        const sp = path.join(prefix, lib, n, sub);
        if (fs.existsSync(sp) && !out.includes(sp)) out.push(sp);
      }
    }
  }
  return out;
}

/** The version of an installed distribution from its `<name>-<version>.dist-info` folder. */
function distVersion(sitePackages: string, name: string): string | undefined {
  try {
    const d = fs.readdirSync(sitePackages).find((f) => f.toLowerCase().startsWith(`${name.toLowerCase()}-`) && f.endsWith('.dist-info'));
    return d?.slice(name.length + 1, -'.dist-info'.length);
  } catch {
    return undefined;
  }
}

/** "nvidia-cudnn-cu11 8.9.2.26": the wheel that shipped a library under site-packages/nvidia/<wheel>/lib. */
function wheelVersion(sitePackages: string, wheel: string): string | undefined {
  for (const cu of ['cu12', 'cu11', 'cu13']) {
    const v = distVersion(sitePackages, `nvidia_${wheel}_${cu}`);
    if (v) return `nvidia-${wheel.replace(/_/g, '-')}-${cu} ${v}`;
  }
  return undefined;
}

/** A file of the same library with another version in its name (libcudnn.so.8 for libcudnn.so.9), if any. */
function otherVersion(dirs: string[], file: string): string | undefined {
  const base = file.slice(0, file.indexOf('.so') + 3);
  for (const d of dirs) {
    let names: string[];
    try {
      names = fs.readdirSync(d);
    } catch {
      continue;
    }
    const other = names.filter((n) => n.startsWith(`${base}.`) && n !== file).sort()[0];
    if (other) return path.join(d, other);
  }
  return undefined;
}

function describeWhere(s: CudaSearch, sitePackages: string[]): string {
  const parts = [s.cudaLibraryPath ? `varscope.cudaLibraryPath (${s.cudaLibraryPath})` : 'varscope.cudaLibraryPath (not set)'];
  parts.push(
    s.python
      ? sitePackages.length
        ? `the nvidia-* wheels of ${s.python}`
        : `${s.python} (no site-packages found beside it)`
      : 'a Python environment (none given)',
  );
  parts.push('the system library folders');
  return parts.join(', ');
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** node_modules/onnxruntime-node above this file (searched, not require.resolve'd: webpack would rewrite that). */
export function onnxruntimeFolder(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', 'onnxruntime-node');
    if (fs.existsSync(candidate) || path.dirname(dir) === dir) return candidate;
  }
}

/** What to search on this machine: onnxruntime-node's Linux x64 binary folder and its version. */
export function localCudaSearch(cudaLibraryPath?: string, python?: string): CudaSearch {
  const ort = onnxruntimeFolder();
  let ortVersion = '?';
  try {
    ortVersion = (JSON.parse(fs.readFileSync(path.join(ort, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    // a missing package.json leaves the version unknown: a wheel cannot match it
  }
  return { ortDir: path.join(ort, 'bin', 'napi-v6', 'linux', 'x64'), ortVersion, cudaLibraryPath, python };
}

/**
 * LD_LIBRARY_PATH for the engine process: the setting's folder and the folders the CUDA libraries were found in
 * before `current`, on Linux x64 (the only platform with the CUDA provider); elsewhere `current`. Independent of the
 * provider setting, so that changing it needs no restart of the engine process.
 */
export function engineLibraryPath(config: { cudaLibraryPath?: string; pythonPath?: string }, current?: string): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') return current;
  const { libraryDirs } = findCudaLibraries(localCudaSearch(config.cudaLibraryPath, config.pythonPath));
  const dirs = [config.cudaLibraryPath, ...libraryDirs, ...(current ?? '').split(path.delimiter)].filter((d): d is string => !!d);
  return [...new Set(dirs)].join(path.delimiter) || undefined;
}
