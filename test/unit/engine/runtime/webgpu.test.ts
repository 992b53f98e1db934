/**
 * The WebGPU provider on SwiftShader (a Vulkan device in software, shipped by Debian's chromium package): the
 * default model and the official fixture bundle against the CPU, in a child process that gets the Vulkan
 * environment (bench/gpuParity.ts does the work). Slow: every shader is compiled by SwiftShader's JIT, so each
 * bundle is run once, on one image, with two generation steps.
 *
 * Tolerances (GPU vs CPU, both float32; the GPU sums in another order):
 * - tokens: exact. A token flips only when two codes are nearer than the float32 error of the distance (~1e-5).
 * - encoder f and decoded images (in [-1, 1]): 1e-3, the image tolerance of the fixture parity with PyTorch.
 * - logits: 2e-3 absolute, for logits of magnitude up to ~35 (6e-5 relative): float32 matmuls over embedDim
 *   terms in a different order differ by ~sqrt(embedDim)·eps·|terms|.
 * Measured on the default model: f 1.1e-6, image 3.6e-6, teacher-forced logits 2.9e-5 (max |logit| 34),
 * generation logits 8.6e-6 / 2.5e-5, after a step back 2.5e-5; about 1 min 40 s of CPU time in the child.
 * On the fixture bundle (256 px): f 1.0e-5, image 4.7e-5, logits 1.4e-6; about 8 min 15 s of CPU time, most of it
 * SwiftShader compiling and running the 256 px encoder and decoder.
 */
import * as assert from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { ParityReport } from '../../../../bench/gpuParity';
import { fixture, requireBundle, ROOT } from '../../fixtures';

const ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const VULKAN_LOADER_DIR = '/usr/lib/chromium'; // chromium ships libvulkan.so.1 beside SwiftShader
const IMAGE_TOL = 1e-3;
const LOGITS_TOL = 2e-3;

/** Runs bench/gpuParity.js on WebGPU/SwiftShader in a child process and returns its report. */
function parity(model: string, image: string, steps: number): ParityReport {
  assert.ok(fs.existsSync(ICD), `${ICD} not found: install Debian's chromium package (it ships SwiftShader)`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-webgpu-'));
  try {
    const out = path.join(tmp, 'report.json');
    const env = {
      ...process.env,
      VK_ICD_FILENAMES: ICD,
      XDG_RUNTIME_DIR: tmp,
      LD_LIBRARY_PATH: [VULKAN_LOADER_DIR, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':'),
    };
    const args = [
      path.join(ROOT, 'out', 'bench', 'gpuParity.js'),
      '--model',
      model,
      '--image',
      image,
      '--provider',
      'webgpu',
      '--steps',
      String(steps),
      '--json',
      out,
    ];
    const r = spawnSync(process.execPath, args, { env, encoding: 'utf8', timeout: 15 * 60 * 1000 });
    assert.strictEqual(r.status, 0, `gpuParity failed (${r.signal ?? r.status}): ${r.stderr}`);
    return JSON.parse(fs.readFileSync(out, 'utf8')) as ParityReport;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** The checks every bundle gets. */
function expectParity(r: ParityReport, steps: number): void {
  console.log(
    `      webgpu vs cpu: f ${r.maxAbs.f.toExponential(2)}, image ${r.maxAbs.image.toExponential(2)}, logits ${r.maxAbs.logits.toExponential(2)} (max |logit| ${r.logitsScale.toFixed(1)}); generation ${r.generation.map((g) => `${g.logits.toExponential(2)}/${g.image.toExponential(2)}`).join(', ')}; webgpu ms ${JSON.stringify(r.ms.gpu)}`,
  );
  assert.strictEqual(r.provider, 'webgpu');
  assert.strictEqual(r.tokensDiffer, 0, `${r.tokensDiffer} of ${r.tokens} tokens differ`);
  assert.ok(r.maxAbs.f <= IMAGE_TOL, `encoder f: ${r.maxAbs.f}`);
  assert.ok(r.maxAbs.image <= IMAGE_TOL, `decoded image: ${r.maxAbs.image}`);
  assert.ok(r.maxAbs.logits <= LOGITS_TOL, `teacher-forced logits: ${r.maxAbs.logits}`);
  assert.strictEqual(r.generation.length, steps);
  for (const g of r.generation) {
    assert.strictEqual(g.tokensDiffer, 0, `generation scale ${g.scale}: ${g.tokensDiffer} tokens differ`);
    assert.ok(g.logits <= LOGITS_TOL, `generation scale ${g.scale} logits: ${g.logits}`);
    assert.ok(g.image <= IMAGE_TOL, `generation scale ${g.scale} image: ${g.image}`);
  }
  assert.strictEqual(r.backStep.tokensDiffer, 0, 'after a step back to scale 0 (KV cache rebuilt on the GPU)');
  assert.ok(r.backStep.logits <= LOGITS_TOL, `after a step back: logits ${r.backStep.logits}`);
  for (const role of ['encoder', 'quantizer', 'decoder', 'transformer', 'transformerStep', 'latentStep']) {
    const p = r.placement[role];
    assert.ok(p?.webgpu?.nodes > 0, `${role}: no node placement reported for webgpu (${JSON.stringify(p)})`);
  }
}

describe('WebGPU on SwiftShader against the CPU', function () {
  this.timeout(20 * 60 * 1000);

  it('default model: tokens exact, images and logits within tolerance, two generation steps on the KV cache', () => {
    expectParity(parity(path.join(ROOT, 'models', 'emoji64-d4'), path.join(ROOT, 'media', 'sample.png'), 2), 2);
  });

  it('official fixture bundle: tokens exact, images and logits within tolerance, two generation steps on the KV cache', () => {
    expectParity(parity(requireBundle(), fixture('img0.png'), 2), 2);
  });
});
