/**
 * Execution providers: the chain `auto` tries on each platform (checked against the binaries onnxruntime-node
 * ships), the setting's enum, and the node placement read from onnxruntime's profile.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { placementFromProfile } from '../../../../src/engine/runtime/nodePlacement';
import { describePlacement, nodesOffProvider } from '../../../../src/shared/nodePlacement';
import { OnnxRuntime, providerChain } from '../../../../src/engine/runtime/onnxRuntime';
import { f32 } from '../../../../src/engine/runtime/tensor';
import { PROVIDER_CHOICES } from '../../../../src/shared/engineApi';
import { ROOT } from '../../fixtures';

const ORT_BIN = path.join(ROOT, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6');
const LATENT_STEP = path.join(ROOT, 'models', 'emoji64-d4', 'latentStep.onnx');

/** A node event of onnxruntime's profile. */
function nodeEvent(name: string, op: string, provider: string) {
  return { cat: 'Node', name: `${name}_kernel_time`, args: { op_name: op, provider } };
}

describe('execution providers', () => {
  it('auto tries CUDA then WebGPU on Linux x64, DirectML then WebGPU on Windows, CoreML then WebGPU on macOS, then the CPU', () => {
    assert.deepStrictEqual(providerChain('linux', 'x64'), ['cuda', 'webgpu', 'cpu']);
    assert.deepStrictEqual(providerChain('win32', 'x64'), ['dml', 'webgpu', 'cpu']);
    assert.deepStrictEqual(providerChain('win32', 'arm64'), ['dml', 'webgpu', 'cpu']);
    assert.deepStrictEqual(providerChain('darwin', 'arm64'), ['coreml', 'webgpu', 'cpu']);
    assert.deepStrictEqual(providerChain('linux', 'arm64'), ['cpu'], 'onnxruntime-node 1.30 has no WebGPU on Linux arm64');
    assert.deepStrictEqual(providerChain('freebsd', 'x64'), ['cpu']);
  });

  it('each chain names only providers the binding shipped for that platform accepts', () => {
    for (const dir of ['linux/x64', 'linux/arm64', 'win32/x64', 'win32/arm64', 'darwin/arm64']) {
      const [platform, arch] = dir.split('/');
      const binding = fs.readFileSync(path.join(ORT_BIN, platform, arch, 'onnxruntime_binding.node')).toString('latin1');
      for (const p of providerChain(platform, arch).filter((x) => x !== 'cpu'))
        assert.ok(binding.includes(p), `${dir} binding does not know ${p}`);
      // and no provider of another platform's chain that this binding lacks is left out of this one
      for (const p of ['cuda', 'dml', 'coreml', 'webgpu'])
        if (new RegExp(`\\0${p}\\0`).test(binding)) assert.ok(providerChain(platform, arch).includes(p), `${dir} ships ${p}`);
    }
  });

  it('the executionProvider setting offers exactly the engine choices', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    const setting = pkg.contributes.configuration.properties['varscope.executionProvider'];
    assert.deepStrictEqual(setting.enum, [...PROVIDER_CHOICES]);
    assert.strictEqual(setting.enumDescriptions.length, PROVIDER_CHOICES.length);
  });
});

describe('node placement', () => {
  it('counts each node once per provider with its op types, and describes the nodes off the main provider', () => {
    const p = placementFromProfile([
      { cat: 'Session', name: 'session_initialization' },
      nodeEvent('/MatMul', 'MatMul', 'WebGpuExecutionProvider'),
      nodeEvent('/MatMul_1', 'MatMul', 'WebGpuExecutionProvider'),
      nodeEvent('/Gather', 'Gather', 'CPUExecutionProvider'),
      nodeEvent('/Gather_1', 'Gather', 'CPUExecutionProvider'),
      nodeEvent('/Concat', 'Concat', 'CPUExecutionProvider'),
      nodeEvent('/MatMul', 'MatMul', 'WebGpuExecutionProvider'),
      nodeEvent('Memcpy', 'MemcpyFromHost', 'WebGpuExecutionProvider'),
      { cat: 'Node', name: '/MatMul_fence_before', args: { op_name: 'MatMul', provider: 'WebGpuExecutionProvider' } },
    ]);
    assert.deepStrictEqual(p, {
      webgpu: { nodes: 3, ops: { MatMul: 2, MemcpyFromHost: 1 } },
      cpu: { nodes: 3, ops: { Gather: 2, Concat: 1 } },
    });
    assert.strictEqual(describePlacement(p, 'webgpu'), 'webgpu 3 nodes, cpu 3 nodes (Gather 2, Concat)');
    assert.strictEqual(nodesOffProvider(p, 'webgpu'), 3);
    assert.strictEqual(nodesOffProvider(p, 'cpu'), 2, 'copies are not nodes that ran elsewhere');
  });

  it('a CPU session reports every node on the CPU after its first run, and leaves no profile behind', async () => {
    const before = new Set(fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith('varscope-profile-')));
    const g = await new OnnxRuntime({ provider: 'cpu', threads: 1 }).open(LATENT_STEP, 'latentStep');
    let settled = false;
    void g.placement.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 20));
    assert.strictEqual(settled, false, 'unknown before the first run');
    const feeds: Record<string, ReturnType<typeof f32>> = {};
    for (const i of g.inputs) {
      const dims = i.dims.map((d) => (typeof d === 'number' ? d : 1));
      const n = dims.reduce((a, b) => a * b, 1);
      feeds[i.name] = i.dtype === 'int64' ? { dtype: 'int64', dims, data: new BigInt64Array(n) } : f32(dims, new Float32Array(n).fill(0.5));
    }
    await g.run(feeds);
    const p = await g.placement;
    assert.ok(p, 'known after the first run');
    assert.deepStrictEqual(Object.keys(p), ['cpu']);
    assert.ok(p.cpu.nodes >= 10, `${p.cpu.nodes} nodes`);
    assert.strictEqual(
      Object.values(p.cpu.ops).reduce((a, b) => a + b, 0),
      p.cpu.nodes,
    );
    assert.ok((p.cpu.ops.MatMul ?? 0) + (p.cpu.ops.FusedMatMul ?? 0) >= 1);
    await g.run(feeds); // profiling ended: a second run still works
    await g.dispose();
    const after = fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith('varscope-profile-') && !before.has(f));
    assert.deepStrictEqual(after, []);
    const quiet = await new OnnxRuntime({ provider: 'cpu', threads: 1, profilePlacement: false }).open(LATENT_STEP, 'latentStep');
    assert.strictEqual(await quiet.placement, undefined);
    await quiet.dispose();
  });
});
