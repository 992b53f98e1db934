/**
 * Finding the CUDA provider's libraries in fake folder layouts (empty files with the right names, versions in
 * file and dist-info names): an nvidia-* wheel environment as PyTorch installs it, an onnxruntime-gpu wheel of the
 * right and the wrong version, varscope.cudaLibraryPath, and what is said when something is missing.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CUDA_NEEDS, findCudaLibraries, PROVIDER_LIBS, sitePackagesOf } from '../../../src/node/cudaLibraries';

const ORT_VERSION = '1.30.0';

/** Empty files at `files` (paths relative to `root`). */
function touch(root: string, files: string[]): void {
  for (const f of files) {
    fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    fs.writeFileSync(path.join(root, f), '');
  }
}

/** A venv whose site-packages holds the nvidia-* wheels of a CUDA 12 PyTorch (cuDNN `cudnn` major). */
function venv(root: string, cudnn = 9): { python: string; sp: string } {
  const sp = 'venv/lib/python3.11/site-packages';
  touch(root, [
    'venv/bin/python',
    `${sp}/nvidia/cuda_runtime/lib/libcudart.so.12`,
    `${sp}/nvidia/cublas/lib/libcublas.so.12`,
    `${sp}/nvidia/cublas/lib/libcublasLt.so.12`,
    `${sp}/nvidia/cufft/lib/libcufft.so.11`,
    `${sp}/nvidia/curand/lib/libcurand.so.10`,
    `${sp}/nvidia/cudnn/lib/libcudnn.so.${cudnn}`,
    `${sp}/nvidia_cudnn_cu12-${cudnn === 9 ? '9.1.0.70' : '8.9.2.26'}.dist-info/METADATA`,
    `${sp}/nvidia_cuda_runtime_cu12-12.4.127.dist-info/METADATA`,
  ]);
  return { python: path.join(root, 'venv/bin/python'), sp: path.join(root, sp) };
}

describe('CUDA library discovery', () => {
  let root: string;
  let ortDir: string;
  let sys: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-cuda-'));
    ortDir = path.join(root, 'ort');
    sys = path.join(root, 'sys');
    touch(root, ['ort/libonnxruntime.so.1', 'sys/libcuda.so.1']);
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('finds everything in a PyTorch environment with the provider libraries beside onnxruntime', () => {
    touch(ortDir, PROVIDER_LIBS);
    const { python, sp } = venv(root);
    assert.deepStrictEqual(sitePackagesOf(python), [sp]);
    const r = findCudaLibraries({ ortDir, ortVersion: ORT_VERSION, python, systemDirs: [sys] });
    assert.deepStrictEqual(r.problems, []);
    for (const n of CUDA_NEEDS) assert.ok(r.found[n.file]?.startsWith(path.join(sp, 'nvidia', n.wheel, 'lib')), n.file);
    assert.strictEqual(r.found['libcuda.so.1'], path.join(sys, 'libcuda.so.1'));
    assert.deepStrictEqual(
      r.libraryDirs,
      ['cuda_runtime', 'cublas', 'cufft', 'curand', 'cudnn'].map((w) => path.join(sp, 'nvidia', w, 'lib')),
      'one entry per folder, in search order',
    );
  });

  it('names the cuDNN that does not match, with the wheel it came from', () => {
    touch(ortDir, PROVIDER_LIBS);
    const { python, sp } = venv(root, 8);
    const r = findCudaLibraries({ ortDir, ortVersion: ORT_VERSION, python, systemDirs: [sys] });
    assert.deepStrictEqual(r.problems, [
      `libcudnn.so.9 (cuDNN 9) not found; ${path.join(sp, 'nvidia/cudnn/lib/libcudnn.so.8')} (nvidia-cudnn-cu12 8.9.2.26) is another version: onnxruntime-node 1.30.0's CUDA provider needs cuDNN 9`,
    ]);
  });

  it('an onnxruntime-gpu wheel of exactly this version: its provider libraries must be copied beside onnxruntime', () => {
    const { python, sp } = venv(root);
    touch(sp, ['onnxruntime_gpu-1.30.0.dist-info/METADATA', ...PROVIDER_LIBS.map((f) => `onnxruntime/capi/${f}`)]);
    const r = findCudaLibraries({ ortDir, ortVersion: ORT_VERSION, python, systemDirs: [sys] });
    assert.deepStrictEqual(r.problems, [
      `libonnxruntime_providers_shared.so and libonnxruntime_providers_cuda.so found in ${path.join(sp, 'onnxruntime/capi')}, but onnxruntime loads them only from its own folder: copy them into ${ortDir}`,
    ]);
  });

  it('an onnxruntime-gpu wheel of another version is refused by name', () => {
    const { python, sp } = venv(root);
    touch(sp, ['onnxruntime_gpu-1.19.2.dist-info/METADATA', ...PROVIDER_LIBS.map((f) => `onnxruntime/capi/${f}`)]);
    const r = findCudaLibraries({ ortDir, ortVersion: ORT_VERSION, python, systemDirs: [sys] });
    assert.strictEqual(r.problems.length, 2);
    assert.strictEqual(
      r.problems[0],
      `onnxruntime-gpu 1.19.2 in ${sp} does not match onnxruntime-node 1.30.0: its CUDA provider cannot be used (pip install onnxruntime-gpu==1.30.0)`,
    );
    assert.match(r.problems[1], /^libonnxruntime_providers_shared\.so and libonnxruntime_providers_cuda\.so not found in /);
  });

  it('varscope.cudaLibraryPath comes first; what is missing there and elsewhere is listed, the driver included', () => {
    touch(ortDir, PROVIDER_LIBS);
    const cudaDir = path.join(root, 'cuda');
    touch(cudaDir, ['libcudart.so.12', 'libcublas.so.12', 'libcublasLt.so.12', 'libcufft.so.11', 'libcurand.so.10', 'libcudart.so.11.0']);
    const { python } = venv(root);
    const both = findCudaLibraries({ ortDir, ortVersion: ORT_VERSION, python, cudaLibraryPath: cudaDir, systemDirs: [sys] });
    assert.deepStrictEqual(both.problems, []);
    assert.strictEqual(both.found['libcudart.so.12'], path.join(cudaDir, 'libcudart.so.12'));
    assert.strictEqual(both.libraryDirs[0], cudaDir);
    const alone = findCudaLibraries({
      ortDir,
      ortVersion: ORT_VERSION,
      cudaLibraryPath: cudaDir,
      systemDirs: [path.join(root, 'nothing')],
    });
    assert.deepStrictEqual(alone.problems, [
      `libcudnn.so.9 (cuDNN 9) not found in varscope.cudaLibraryPath (${cudaDir}), a Python environment (none given), the system library folders`,
      `libcuda.so.1 (the NVIDIA driver) not found in ${path.join(root, 'nothing')}`,
    ]);
  });

  it('nothing at all: every library is named', () => {
    const r = findCudaLibraries({ ortDir, ortVersion: ORT_VERSION, python: path.join(root, 'nowhere/bin/python'), systemDirs: [] });
    assert.strictEqual(r.problems.length, 1 + CUDA_NEEDS.length + 1);
    assert.match(r.problems[0], /libonnxruntime_providers_shared\.so and libonnxruntime_providers_cuda\.so not found in .*ort/);
    for (const [i, n] of CUDA_NEEDS.entries())
      assert.ok(r.problems[1 + i].startsWith(`${n.file} (${n.what}) not found in`), r.problems[1 + i]);
    assert.deepStrictEqual(r.libraryDirs, []);
  });
});
