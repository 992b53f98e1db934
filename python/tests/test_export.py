"""Export the official-var-A fixtures into a temp dir and check the bundle against graphSpec.json and the references."""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import onnx
import torch
import torch.nn.functional as F

from varscope.bundle.bundle_spec import GRAPH_SPEC, ROLES, resolve_dim
from varscope.bundle.verify import run_verifier, tolerance

from .fixtures import PACKAGE_DIR, REPO, config, fixture

ONNX_DTYPES = {onnx.TensorProto.FLOAT: 'float32', onnx.TensorProto.FLOAT16: 'float16', onnx.TensorProto.INT64: 'int64'}


class ExportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='varscope-export-')
        cls.out = os.path.join(cls.tmp, 'official-var-A')
        env = dict(os.environ, PYTHONPATH=PACKAGE_DIR)
        cls.proc = subprocess.run(
            [
                sys.executable,
                '-m',
                'varscope.export',
                '--vae',
                fixture('vae.pth'),
                '--var',
                fixture('var.pth'),
                '--out',
                cls.out,
                '--name',
                'Fixture A',
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
        )
        cls.manifest = None
        if cls.proc.returncode == 0:
            with open(os.path.join(cls.out, 'varscope.json')) as f:
                cls.manifest = json.load(f)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def setUp(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stdout + self.proc.stderr)

    def test_checkpoints_recovered_from_the_bundle_equal_the_official_ones(self):
        # varscope.from_bundle reads every learned tensor back out of the graphs: all of them, exactly
        from varscope.bundle.checkpoint import canonical_vae_keys, extract, torch_load
        from varscope.bundle.from_bundle import recover

        got = recover(self.out, log=lambda _: None)
        for role, model in (('vae', got.vae), ('var', got.var)):
            want = extract(torch_load(fixture(f'{role}.pth')), role, role)
            want = canonical_vae_keys(want) if role == 'vae' else want
            have = model.state_dict()
            self.assertEqual(sorted(have), sorted(want), role)
            for k in want:
                self.assertTrue(torch.equal(have[k].float(), want[k].float()), f'{role} {k}')

    def test_progress_and_success_line(self):
        self.assertIn('exporting transformerStep.onnx', self.proc.stdout)
        self.assertRegex(self.proc.stdout.strip().splitlines()[-1], r'^ok: bundle official-var-A verified')

    def test_torch_warnings_go_to_the_log_not_the_terminal(self):
        # The user sees the stage lines; torch's tracer and constant-folding warnings (on 1.13 and 2.x) are in the log.
        self.assertEqual(self.proc.stderr, '')
        stage = r'^(loading |config: |exporting \w+\.onnx |weights\.bin: |computing |running |  \w+\.\w+: max abs diff |note: |ok: )'
        for line in self.proc.stdout.strip().splitlines():
            self.assertRegex(line, stage)
        note = [l for l in self.proc.stdout.splitlines() if l.startswith('note: ')]
        self.assertEqual(len(note), 1, self.proc.stdout)
        log = re.search(r' in (\S+) \(--verbose prints them\)', note[0]).group(1)
        with open(log, encoding='utf-8') as f:
            text = f.read()
        os.remove(log)
        self.assertIn('TracerWarning', text)

    def test_manifest_fields(self):
        m, cfg = self.manifest, config()
        kw = cfg['build_vae_var_kwargs']
        self.assertEqual(
            (m['format'], m['version'], m['id'], m['name']), ('varscope-bundle', 2, 'official-var-A', 'Fixture A')
        )
        self.assertEqual(
            m['vae'],
            {
                'imageSize': cfg['image_size'],
                'latentSize': cfg['latent_hw'],
                'downsample': 16,
                'Cvae': kw['Cvae'],
                'vocabSize': kw['V'],
                'ch': kw['ch'],
                'chMult': cfg['vqvae_fixed_in_official_code']['ch_mult'],
                'quantResi': cfg['vqvae_constructor_args']['quant_resi'],
                'phiCount': kw['share_quant_resi'],
            },
        )
        va = cfg['var_constructor_args']
        self.assertEqual(
            m['var'],
            {
                'depth': va['depth'],
                'embedDim': va['embed_dim'],
                'numHeads': va['num_heads'],
                'numClasses': va['num_classes'],
                'nullClass': cfg['null_class'],
                'sharedAdaLN': va['shared_aln'],
                'attnL2Norm': va['attn_l2_norm'],
                'mlpRatio': va['mlp_ratio'],
            },
        )
        self.assertEqual(m['patchNums'], cfg['patch_nums'])
        self.assertEqual(m['beginEnds'], cfg['begin_ends'])
        self.assertEqual((m['tokenCount'], m['firstL']), (cfg['L'], cfg['first_l']))
        self.assertEqual(m['phiIndexPerScale'], cfg['phi_index_per_scale'])
        self.assertEqual(m['normalization']['mean'], 0.5)
        self.assertEqual(m['normalization']['std'], 0.5)
        self.assertEqual(len(m['classes']), va['num_classes'])
        self.assertEqual(m['classes'][3], 'class 3')
        self.assertEqual(set(m['graphs']), set(ROLES))
        for role in ROLES:
            self.assertTrue(os.path.isfile(os.path.join(self.out, m['graphs'][role]['file'])), role)

    def test_interpolation_matrices_match_torch(self):
        up, down = self.manifest['interpolation']['up'], self.manifest['interpolation']['down']
        h = self.manifest['vae']['latentSize']
        g = torch.Generator().manual_seed(0)
        for k, pn in enumerate(self.manifest['patchNums'][:-1]):
            U, D = torch.tensor(up[k]), torch.tensor(down[k])
            self.assertEqual((tuple(U.shape), tuple(D.shape)), ((h, pn), (pn, h)))
            small, big = torch.randn(2, 3, pn, pn, generator=g), torch.randn(2, 3, h, h, generator=g)
            self.assertLess(
                float((U @ small @ U.T - F.interpolate(small, size=(h, h), mode='bicubic')).abs().max()), 1e-5
            )
            self.assertLess(float((D @ big @ D.T - F.interpolate(big, size=(pn, pn), mode='area')).abs().max()), 1e-5)
        np.testing.assert_array_equal(np.array(up[-1]), np.eye(h))

    def test_codebook_and_training_hits(self):
        sd = torch.load(fixture('vae.pth'), map_location='cpu')
        cb = self.manifest['codebook']
        data = np.fromfile(os.path.join(self.out, cb['file']), dtype='<f4').reshape(cb['dims'])
        np.testing.assert_array_equal(data, sd['quantize.embedding.weight'].numpy())
        th = self.manifest['trainingHits']
        hits = np.fromfile(os.path.join(self.out, th['file']), dtype='<f4').reshape(th['dims'])
        np.testing.assert_array_equal(hits, sd['quantize.ema_vocab_hit_SV'].numpy())

    def test_provenance(self):
        prov = self.manifest['provenance']
        for src, path in zip(prov['sources'], (fixture('vae.pth'), fixture('var.pth'))):
            with open(path, 'rb') as f:
                self.assertEqual(src['sha256'], hashlib.sha256(f.read()).hexdigest())
            self.assertEqual(src['bytes'], os.path.getsize(path))
        self.assertEqual([s['role'] for s in prov['sources']], ['vae', 'var'])
        self.assertTrue(prov['exporter'].startswith('varscope.export'))
        self.assertRegex(prov['exportedAt'], r'^\d{4}-\d\d-\d\dT')

    def test_graph_io_matches_graph_spec(self):
        m = self.manifest
        facts = {
            'C': m['vae']['Cvae'],
            'h': m['vae']['latentSize'],
            'H': m['vae']['imageSize'],
            'V': m['vae']['vocabSize'],
            'L': m['tokenCount'],
            'firstL': m['firstL'],
            'SN': len(m['patchNums']),
            'depth': m['var']['depth'],
            'nh': m['var']['numHeads'],
            'hd': m['var']['embedDim'] // m['var']['numHeads'],
            'D': m['var']['embedDim'],
            'numClasses': m['var']['numClasses'],
        }
        self.assertEqual(list(m['graphs']), list(GRAPH_SPEC['graphs']))
        for role in ROLES:
            spec = m['graphs'][role]
            for kind in ('inputs', 'outputs'):
                want = {
                    name: {'dtype': t['dtype'], 'dims': [resolve_dim(d, facts) for d in t['dims']]}
                    for name, t in GRAPH_SPEC['graphs'][role][kind].items()
                }
                self.assertEqual(spec[kind], want, f'{role} {kind}')
            model = onnx.load(os.path.join(self.out, spec['file']), load_external_data=False)
            self.assertEqual(model.opset_import[0].version, 17)
            for kind, values in (('inputs', model.graph.input), ('outputs', model.graph.output)):
                self.assertEqual([v.name for v in values], list(spec[kind]), f'{role} {kind}')
                for v in values:
                    dims = [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
                    self.assertEqual(dims, spec[kind][v.name]['dims'], f'{role} {v.name}')
                    dtype = ONNX_DTYPES.get(v.type.tensor_type.elem_type)
                    self.assertEqual(dtype, spec[kind][v.name]['dtype'], f'{role} {v.name}')
            shapes = {t.name: [int(d) for d in t.dims] for t in model.graph.initializer}
            for name, dims in GRAPH_SPEC['graphs'][role].get('initializers', {}).items():
                self.assertEqual(shapes[name], [resolve_dim(d, facts) for d in dims], f'{role} {name}')

    def test_files_hashed_and_mask_computed_in_the_graph(self):
        files = self.manifest['files']
        expected = {g['file'] for g in self.manifest['graphs'].values()} | {
            'codebook.bin',
            'trainingHits.bin',
            'weights.bin',
            'weightMap.json',
        }
        self.assertEqual(set(files), expected)
        for rel, h in files.items():
            with open(os.path.join(self.out, rel), 'rb') as f:
                data = f.read()
            self.assertEqual((h['sha256'], h['bytes']), (hashlib.sha256(data).hexdigest(), len(data)), rel)
        L = self.manifest['tokenCount']
        for role in ('transformer', 'attention'):
            model = onnx.load(os.path.join(self.out, f'{role}.onnx'), load_external_data=False)
            self.assertFalse([t.name for t in model.graph.initializer if list(t.dims)[-2:] == [L, L]], role)
            self.assertIn('var.attn_bias_for_masking', {o for n in model.graph.node for o in n.output}, role)

    def test_attention_graph_selects_queries_and_keys_not_weights(self):
        # onnxruntime held every block's [B, nh, L, L] weights alive when a Where chain selected among them (d36-s:
        # 36 x 0.72 GB at batch 1); the graph selects the block's q and k and runs one softmax for its output
        model = onnx.load(os.path.join(self.out, 'attention.onnx'), load_external_data=False)
        depth = self.manifest['var']['depth']
        made_by = {o: n for n in model.graph.node for o in n.output}
        self.assertEqual(made_by['attn'].op_type, 'Softmax')
        softmaxes = [n for n in model.graph.node if n.op_type == 'Softmax']
        self.assertEqual(
            len(softmaxes), depth
        )  # each block's but the last's (whose output nothing reads), the output's
        where_inputs = {i for n in model.graph.node if n.op_type == 'Where' for i in n.input}
        self.assertFalse(where_inputs & {n.output[0] for n in softmaxes})

    def external_ranges(self, role):
        model = onnx.load(os.path.join(self.out, self.manifest['graphs'][role]['file']), load_external_data=False)
        ranges = set()
        for t in model.graph.initializer:
            if t.data_location == onnx.TensorProto.EXTERNAL:
                info = {e.key: e.value for e in t.external_data}
                self.assertEqual(info['location'], 'weights.bin')
                ranges.add((int(info['offset']), int(info['length'])))
        return ranges

    def test_transformer_weights_stored_once(self):
        tf, step = self.external_ranges('transformer'), self.external_ranges('transformerStep')
        self.assertTrue(self.external_ranges('attention') <= tf | step)  # the attention graph adds no weights
        var_bytes = sum(
            v.numel() * 4
            for k, v in torch.load(fixture('var.pth'), map_location='cpu').items()
            if k not in ('attn_bias_for_masking', 'lvl_1L')
        )
        shared = sum(n for _, n in tf & step)
        self.assertGreater(shared, 0.95 * var_bytes)  # every trained VAR tensor is referenced by both graphs
        # every stored range is a region of the weight map, and no checkpoint tensor is stored twice in one form
        with open(os.path.join(self.out, 'weightMap.json')) as f:
            regions = json.load(f)['files']['weights.bin']['regions']
        ranges = set().union(*(self.external_ranges(r) for r in ROLES))
        self.assertEqual(ranges, {(r['offset'], r['bytes']) for r in regions})
        sources = [json.dumps([r['source'], r['dtype'], r['shape']], sort_keys=True) for r in regions if 'source' in r]
        self.assertEqual(len(sources), len(set(sources)))

    def test_verification_passed(self):
        ver = self.manifest['provenance']['verification']
        expected = {f'{role}.{name}' for role in ROLES for name in self.manifest['graphs'][role]['outputs']}
        self.assertEqual(set(ver), expected)
        for key, value in ver.items():
            self.assertLessEqual(value, tolerance(key), key)
        self.assertEqual(ver['quantizer.tokens'], 0)


class ExportFp16Test(unittest.TestCase):
    def test_fp16_weights_verify_and_halve_the_file(self):
        env = dict(os.environ, PYTHONPATH=PACKAGE_DIR)
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, 'a16')
            proc = subprocess.run(
                [
                    sys.executable,
                    '-W',
                    'ignore',
                    '-m',
                    'varscope.export',
                    '--vae',
                    fixture('vae.pth'),
                    '--var',
                    fixture('var.pth'),
                    '--out',
                    out,
                    '--fp16',
                ],
                capture_output=True,
                text=True,
                env=env,
                cwd=REPO,
            )
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            with open(os.path.join(out, 'varscope.json')) as f:
                manifest = json.load(f)
            for key, value in manifest['provenance']['verification'].items():
                self.assertLessEqual(value, tolerance(key), key)
            params = sum(
                v.numel()
                for path in (fixture('vae.pth'), fixture('var.pth'))
                for k, v in torch.load(path, map_location='cpu').items()
                if v.is_floating_point()
            )
            self.assertLess(os.path.getsize(os.path.join(out, 'weights.bin')), 0.6 * 4 * params)
            model = onnx.load(os.path.join(out, 'transformer.onnx'), load_external_data=False)
            self.assertIn(onnx.TensorProto.FLOAT16, {t.data_type for t in model.graph.initializer})
            self.assertEqual([i.name for i in model.graph.input], list(manifest['graphs']['transformer']['inputs']))


class VerifierTest(unittest.TestCase):
    """tools/verify_bundle.js reads each reference a chunk at a time (64 MB): a difference past the first chunk, a
    reference equal to the output and one of other dims must each come out as they are."""

    def test_max_abs_diff_over_chunks_and_dims(self):
        h = onnx.helper
        vec = lambda name: h.make_tensor_value_info(name, onnx.TensorProto.FLOAT, ['n'])
        graph = h.make_graph([h.make_node('Identity', ['x'], ['y'])], 'identity', [vec('x')], [vec('y')])
        x = (np.arange((1 << 24) + 1000) % 997).astype(np.float32)  # one chunk and 1000 values of the next
        off = x.copy()
        off[-3] += 0.5
        with tempfile.TemporaryDirectory(prefix='varscope-verifier-') as d:
            # onnx 1.23 writes IR version 14 by default; onnxruntime 1.30 reads up to 13
            model = h.make_model(graph, opset_imports=[h.make_opsetid('', 13)], ir_version=8)
            onnx.save(model, os.path.join(d, 'identity.onnx'))
            for name, a in (('x', x), ('same', x), ('off', off), ('short', x[:10])):
                np.save(os.path.join(d, f'{name}.npy'), a)
            case = lambda name: {
                'name': name,
                'graph': 'identity',
                'inputs': {'x': 'x.npy'},
                'outputs': {'y': f'{name}.npy'},
            }
            with open(os.path.join(d, 'cases.json'), 'w') as f:
                json.dump([case('same'), case('off'), case('short')], f)
            diffs = run_verifier(d, d)
        self.assertEqual(diffs, {'same.y': 0.0, 'off.y': 0.5, 'short.y': float('inf')})

    def test_saved_outputs_read_back_as_numpy_wrote_them(self):
        # a case's `save` writes outputs as .npy (how a test drives a graph step by step); every dtype the verifier
        # reads, scalars and shapes of one axis included
        h = onnx.helper
        with tempfile.TemporaryDirectory(prefix='varscope-verifier-') as d:
            arrays = {
                'f': np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 7,
                'i': np.array([-(2**40), 3], np.int64),
                'u': np.array(7, np.uint8),
            }
            types = {'f': onnx.TensorProto.FLOAT, 'i': onnx.TensorProto.INT64, 'u': onnx.TensorProto.UINT8}
            for key, a in arrays.items():
                io = lambda name: h.make_tensor_value_info(name, types[key], list(a.shape))  # noqa: E731
                graph = h.make_graph([h.make_node('Identity', ['x'], ['y'])], key, [io('x')], [io('y')])
                model = h.make_model(graph, opset_imports=[h.make_opsetid('', 13)], ir_version=8)
                onnx.save(model, os.path.join(d, f'{key}.onnx'))
                np.save(os.path.join(d, f'{key}.npy'), a)
            cases = [
                {'name': k, 'graph': k, 'inputs': {'x': f'{k}.npy'}, 'outputs': {}, 'save': {'y': f'{k}.saved.npy'}}
                for k in arrays
            ]
            with open(os.path.join(d, 'cases.json'), 'w') as f:
                json.dump(cases, f)
            self.assertEqual(run_verifier(d, d), {})
            for key, a in arrays.items():
                saved = np.load(os.path.join(d, f'{key}.saved.npy'))
                self.assertEqual((saved.dtype, saved.shape), (a.dtype, a.shape), key)
                np.testing.assert_array_equal(saved, a, key)
            cases[0]['save'] = {'z': 'z.npy'}
            with open(os.path.join(d, 'cases.json'), 'w') as f:
                json.dump(cases[:1], f)
            with self.assertRaises(RuntimeError) as caught:
                run_verifier(d, d)
            self.assertIn('f: the graph has no output z to save', str(caught.exception))


class ExportOtherArchitectureTest(unittest.TestCase):
    """A random small model unlike the fixture: shared AdaLN, ch_mult (1,2,4), 8 scales, trainer-style nesting."""

    def test_export_verifies_and_describes_the_model(self):
        from varscope.model.var_model import VAR
        from varscope.model.vqvae import VQVAE

        torch.manual_seed(0)
        pns = (1, 2, 3, 4, 6, 8, 11, 16)
        vae = VQVAE(vocab_size=64, z_channels=8, ch=32, ch_mult=(1, 2, 4), patch_nums=pns)
        var = VAR(
            Cvae=8, vocab_size=64, num_classes=5, depth=3, embed_dim=64, num_heads=4, shared_aln=True, patch_nums=pns
        )
        with torch.no_grad():
            for p in var.parameters():
                p.add_(torch.randn_like(p) * 0.05)  # zero-initialised biases would hide wiring mistakes
            vae.quantize.embedding.weight.normal_(0, 0.5)
        env = dict(os.environ, PYTHONPATH=PACKAGE_DIR)
        with tempfile.TemporaryDirectory() as tmp:
            torch.save(vae.state_dict(), os.path.join(tmp, 'vae.pth'))
            torch.save({'trainer': {'var_wo_ddp': var.state_dict()}, 'epoch': 1}, os.path.join(tmp, 'ar-ckpt-last.pth'))
            with open(os.path.join(tmp, 'names.txt'), 'w') as f:
                f.write('\n'.join(['smile', 'heart', 'star', 'cat', 'sun']) + '\n')
            out = os.path.join(tmp, 'small')
            proc = subprocess.run(
                [
                    sys.executable,
                    '-W',
                    'ignore',
                    '-m',
                    'varscope.export',
                    '--vae',
                    os.path.join(tmp, 'vae.pth'),
                    '--var',
                    os.path.join(tmp, 'ar-ckpt-last.pth'),
                    '--out',
                    out,
                    '--id',
                    'small-d3',
                    '--classes',
                    os.path.join(tmp, 'names.txt'),
                    '--image-size',
                    '64',
                ],
                capture_output=True,
                text=True,
                env=env,
                cwd=REPO,
            )
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            with open(os.path.join(out, 'varscope.json')) as f:
                m = json.load(f)
        self.assertEqual(
            (m['id'], m['patchNums'], m['vae']['imageSize'], m['vae']['downsample']), ('small-d3', list(pns), 64, 4)
        )
        self.assertEqual(m['vae']['chMult'], [1, 2, 4])
        self.assertEqual(
            (m['var']['depth'], m['var']['embedDim'], m['var']['numHeads'], m['var']['sharedAdaLN']), (3, 64, 4, True)
        )
        self.assertEqual((m['var']['numClasses'], m['var']['nullClass'], m['classes'][3]), (5, 5, 'cat'))
        self.assertEqual(m['tokenCount'], sum(p * p for p in pns))
        for key, value in m['provenance']['verification'].items():
            self.assertLessEqual(value, tolerance(key), key)


class ExportErrorsTest(unittest.TestCase):
    def run_export(self, *args):
        env = dict(os.environ, PYTHONPATH=PACKAGE_DIR)
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.run(
                [sys.executable, '-W', 'ignore', '-m', 'varscope.export', '--out', os.path.join(tmp, 'b'), *args],
                capture_output=True,
                text=True,
                env=env,
                cwd=REPO,
            )
            self.assertFalse(os.path.exists(os.path.join(tmp, 'b')))
        return proc

    def test_swapped_checkpoints(self):
        proc = self.run_export('--vae', fixture('var.pth'), '--var', fixture('vae.pth'))
        self.assertEqual(proc.returncode, 2)
        self.assertIn('error: ', proc.stderr)
        self.assertIn('given as the VAE', proc.stderr)
        self.assertNotIn('Traceback', proc.stderr)

    def test_wrong_image_size(self):
        proc = self.run_export('--vae', fixture('vae.pth'), '--var', fixture('var.pth'), '--image-size', '512')
        self.assertEqual(proc.returncode, 2)
        self.assertIn('works at 256 px', proc.stderr)

    def test_wrong_class_names(self):
        with tempfile.NamedTemporaryFile('w', suffix='.txt') as f:
            f.write('cat\ndog\n')
            f.flush()
            proc = self.run_export('--vae', fixture('vae.pth'), '--var', fixture('var.pth'), '--classes', f.name)
        self.assertEqual(proc.returncode, 2)
        self.assertIn('2 names, the model has 1000 classes', proc.stderr)


if __name__ == '__main__':
    unittest.main(verbosity=2)
