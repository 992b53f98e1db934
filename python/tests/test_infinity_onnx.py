"""Infinity's ONNX graphs, run by onnxruntime-node (tools/verify_bundle.js), against the official fixtures and our
reference: the tokenizer's bits exact, latents and inputs within 5e-5, images within 1e-3 (the VAR tolerances); the
transformer's teacher-forced logits and the KV-cached steps' within 5e-5 of the float32-text-attention fixture, and a
greedy CFG generation driven scale by scale from here through the step graph.

NOTE: onnxruntime for Python is not installed beside either torch here; the engine's own runtime runs the graphs."""
import contextlib
import io
import json
import os
import tempfile
import unittest

import numpy as np
import torch

from varscope.bundle.verify import run_verifier
from varscope.infinity.inputs import load_image_input
from varscope.hashing import sha256_of
from varscope.infinity.export import export, main, parse_args
from varscope.infinity.load import load_infinity_checkpoint
from varscope.infinity.model import add_scale, guided_logits
from varscope.infinity.schedules import scale_schedule
from varscope.model.sampling import sample_with_top_k_top_p

from .test_infinity_attention import forward_weights, teacher_input
from .test_infinity_reference import FLOAT_TOL, IMAGE_TOL, INFINITY_FIXTURES, NAMES, Fixture, flat, maxabs


def write_case(directory: str, cases: list, name: str, graph: str, inputs: dict, outputs: dict) -> None:
    """One verify_bundle.js case; arrays keep their dtype (uint8 bits, float32 tensors)."""

    def save(kind, key, arr):
        file = f'{name}.{kind}.{key}.npy'
        np.save(os.path.join(directory, file), np.ascontiguousarray(arr))
        return file

    cases.append(
        {
            'name': name,
            'graph': graph,
            'inputs': {k: save('in', k, v) for k, v in inputs.items()},
            'outputs': {k: save('out', k, v) for k, v in outputs.items()},
        }
    )


def run_one(bundle: str, graph: str, inputs: dict, outputs: dict, save=()) -> tuple:
    """One case through verify_bundle.js: (max abs diff per output, the outputs named in save as arrays)."""
    with tempfile.TemporaryDirectory() as work:
        cases = []
        write_case(work, cases, graph, graph, inputs, outputs)
        cases[0]['save'] = {k: f'saved.{k}.npy' for k in save}
        with open(os.path.join(work, 'cases.json'), 'w') as f:
            json.dump(cases, f)
        diffs = run_verifier(bundle, work)
        return diffs, {k: np.load(os.path.join(work, f'saved.{k}.npy')) for k in save}


# Each fixture exported by the command line into one bundle: A at its own 1:1 and at 0.75 (two schedules in one
# bundle), B at its own 0.75.
RATIOS = {'infinity-A': '1.0,0.75', 'infinity-B': '0.75'}
BUNDLES = {}
_TMP = []


def setUpModule():
    torch.set_num_threads(2)
    _TMP.append(tempfile.TemporaryDirectory())
    for name in NAMES:
        BUNDLES[name] = os.path.join(_TMP[0].name, name)
        folder = os.path.join(INFINITY_FIXTURES, name)
        args = ['--vae', os.path.join(folder, 'vae.pth'), '--infinity', os.path.join(folder, 'infinity.pth')]
        export(
            parse_args(args + ['--out', BUNDLES[name], '--ratios', RATIOS[name], '--name', name]), log=lambda _: None
        )


def tearDownModule():
    _TMP.pop().cleanup()


def manifest_of(name: str) -> dict:
    with open(os.path.join(BUNDLES[name], 'varscope.json')) as f:
        return json.load(f)


def graph_stem(name: str, graph: str, h_div_w: float = 0.0) -> str:
    """The graph file of a schedule of the bundle (the fixture's own by default), without .onnx (verify_bundle.js's
    `graph`)."""
    if not h_div_w:
        with open(os.path.join(INFINITY_FIXTURES, name, 'config.json')) as f:
            h_div_w = json.load(f)['schedule']['h_div_w_template']
    (entry,) = [e for e in manifest_of(name)['schedules'] if e['hDivW'] == h_div_w]
    return entry['graphs'][graph]['file'][: -len('.onnx')]


def tolerance(key: str) -> float:
    """Per '<case>.<output>': bits exact, images IMAGE_TOL, the rest FLOAT_TOL."""
    return 0.0 if key.endswith('.bits') else IMAGE_TOL if key.startswith('bsqDecoder') else FLOAT_TOL


class InfinityTokenizerOnnxTest(unittest.TestCase):
    def test_graphs_reproduce_the_official_tokenizer(self):
        for name in NAMES:
            folder = os.path.join(INFINITY_FIXTURES, name)
            npy = lambda f: np.load(os.path.join(folder, f'{f}.npy'))  # noqa: E731
            graph = lambda g: graph_stem(name, g)  # noqa: E731
            with tempfile.TemporaryDirectory() as cases_dir:
                image = load_image_input(os.path.join(folder, 'image.png')).numpy()
                two = lambda a: np.concatenate([a[None], a[None]])  # noqa: E731  (batch 2: the dynamic axis)
                cases = []
                write_case(
                    cases_dir,
                    cases,
                    'bsqEncoder',
                    graph('bsqEncoder'),
                    {'image': np.concatenate([image, image])},
                    {'latent': two(npy('tok_h')), 'bits': two(npy('tok_bits')), 'residual': two(npy('tok_residual'))},
                )
                write_case(
                    cases_dir,
                    cases,
                    'bitsToLatent',
                    graph('bitsToLatent'),
                    {'bits': npy('tok_bits')[None]},
                    {'latent': npy('tok_fhat')[-1][None], 'nextInput': npy('tf_x_wo_prefix')[None]},
                )
                write_case(
                    cases_dir,
                    cases,
                    'bsqDecoder',
                    graph('bsqDecoder'),
                    {'latent': npy('tok_fhat')[-1][None]},
                    {'image': npy('tok_dec').astype(np.float32)[None]},
                )
                with open(os.path.join(cases_dir, 'cases.json'), 'w') as f:
                    json.dump(cases, f)
                diffs = run_verifier(BUNDLES[name], cases_dir)
            self.assertEqual(len(diffs), 6, name)
            for key, diff in diffs.items():
                self.assertLessEqual(diff, tolerance(key), f'{name} {key}')


def drive_steps(fx: Fixture, name: str, captions, cfg_list, tau_list, cfg_insertion_layer, forced_bits=None):
    """Generation scale by scale through the step graph, the caller's part done here as the reference does it (CFG
    batch, logits over tau and CFG, greedy bits, the next scale's input): (logits K x [B, l, d, 2], bits K x
    [B, h, w, d]). forced_bits (K x [B, h, w, d]) replace the greedy choice."""
    model, schedule = fx.model, fx.schedule
    cfg_m = model.cfg
    kv, cu = fx.captions(captions)
    B = len(captions)
    doubled = any(c != 1 for c in cfg_list)
    if doubled:
        kv, cu = model.with_unconditional(kv, cu)
    rows = 2 * B if doubled else B
    layer = [cfg_m.depth + n for n in cfg_insertion_layer if n < 0]
    head_dim = cfg_m.embed_dim // cfg_m.num_heads
    past_k = past_v = np.zeros((cfg_m.depth, rows, cfg_m.num_heads, 0, head_dim), np.float32)
    nxt, f_hat, all_logits, all_bits = np.zeros((rows, 1, cfg_m.d_model), np.float32), 0.0, [], []
    for si, (_, h, w) in enumerate(schedule):
        _, out = run_one(
            BUNDLES[name],
            graph_stem(name, 'infinityStep'),
            {
                'textFeatures': kv.detach().numpy(),
                'textOffsets': cu.numpy().astype(np.int64),
                'nextInput': nxt,
                'scaleIndex': np.array(si, np.int64),
                'pastKey': past_k,
                'pastValue': past_v,
                'cfgScale': np.array(cfg_list[si], np.float32),
                'cfgLayer': np.array(layer[0] if layer else -1, np.int64),
            },
            {},
            save=('logits', 'newKey', 'newValue'),
        )
        past_k = np.concatenate((past_k, out['newKey']), axis=3)
        past_v = np.concatenate((past_v, out['newValue']), axis=3)
        logits = guided_logits(torch.from_numpy(out['logits']), B, cfg_list[si], tau_list[si], 0 in cfg_insertion_layer)
        all_logits.append(logits)
        if forced_bits is not None:
            bits = forced_bits[si].reshape(B, h, w, -1).long()
        else:
            bits = sample_with_top_k_top_p(logits.reshape(B, -1, 2), top_k=1, top_p=0.0)[:, :, 0].view(B, h, w, -1)
        all_bits.append(bits)
        f_hat, x = add_scale(fx.vae, f_hat, bits, schedule, si)
        if x is not None:
            nxt = x.repeat(rows // B, 1, 1).numpy()
    return all_logits, all_bits


class InfinityTransformerOnnxTest(unittest.TestCase):
    """infinityTransformer and infinityStep of each fixture's schedule (A 1:1, B 0.75), float32 text attention."""

    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(2)
        cls.fx = {name: Fixture(name) for name in NAMES}

    def test_teacher_forced_logits(self):
        # A: two captions of 7 and 13 tokens in one batch (packed features, offsets [0, 7, 20])
        for name, fx in self.fx.items():
            captions = fx.cfg['teacher_forced']['captions']
            kv, cu = fx.captions(captions)
            ref = fx.npy('tf_logits_fp32ca')
            x = np.broadcast_to(fx.npy('tf_x_wo_prefix'), (len(captions),) + fx.npy('tf_x_wo_prefix').shape)
            diffs, _ = run_one(
                BUNDLES[name],
                graph_stem(name, 'infinityTransformer'),
                {'textFeatures': kv.numpy(), 'textOffsets': cu.numpy().astype(np.int64), 'nextInput': x},
                {'logits': ref.reshape(ref.shape[0], ref.shape[1], -1, 2)},
            )
            self.assertLessEqual(max(diffs.values()), FLOAT_TOL, name)

    def test_second_schedule_of_a_bundle(self):
        # A's bundle also holds h:w 0.75, where A has no fixture: its teacher-forced graph against our reference
        # (itself held to B's fixture at 0.75), on random bits and A's longer caption.
        fx, schedule = self.fx['infinity-A'], scale_schedule(0.75, '0.06M')
        g = torch.Generator().manual_seed(0)
        bits = [(torch.rand(1, 1, h, w, fx.vae.codebook_dim, generator=g) > 0.5).int() for _, h, w in schedule]
        kv, cu = fx.captions([1])
        with torch.no_grad():
            x = fx.vae.next_scale_inputs(bits, schedule)
            ref = fx.model(kv, cu, x, schedule)
        diffs, _ = run_one(
            BUNDLES['infinity-A'],
            graph_stem('infinity-A', 'infinityTransformer', 0.75),
            {'textFeatures': kv.numpy(), 'textOffsets': cu.numpy().astype(np.int64), 'nextInput': x.numpy()},
            {'logits': ref.reshape(1, x.shape[1] + 1, -1, 2).numpy()},
        )
        self.assertEqual(len(diffs), 1)
        self.assertLessEqual(max(diffs.values()), FLOAT_TOL)

    def test_steps_with_forced_bits_equal_teacher_forcing(self):
        for name, fx in self.fx.items():
            K = len(fx.schedule)
            c = fx.cfg['teacher_forced']['captions'][0]
            gt = fx.per_scale(fx.npy('tf_gt_bits'))
            logits, _ = drive_steps(fx, name, [c], [1.0] * K, [1.0] * K, [0], forced_bits=gt)
            ours = torch.cat([l[0].flatten(1) for l in logits]).numpy()
            self.assertLessEqual(maxabs(ours, fx.npy('tf_logits_fp32ca')[0]), FLOAT_TOL, name)

    def test_greedy_cfg_generation(self):
        # NOTE: the fixtures' generations ran with the official bfloat16 text attention; in float32 our reference
        # generates every bit of B's gen_bits and all but one of A's 8336 (a logit near 0 that the rounding flips).
        # The graphs are held to our float32 generation, bits exact, and to gen_bits where float32 gives them.
        for name, fx in self.fx.items():
            g = fx.cfg['generations']['gen']
            fx.model.text_attention_bf16 = False
            ref = fx.generate('gen')
            logits, bits = drive_steps(fx, name, [g['caption']], g['cfg_list'], g['tau_list'], g['cfg_insertion_layer'])
            np.testing.assert_array_equal(flat(bits), flat(ref.bits), name)
            gain = max(g['cfg_list']) / min(g['tau_list'])
            ours = torch.cat([l[0] for l in logits]).numpy()
            self.assertLessEqual(maxabs(ours, torch.cat([l[0] for l in ref.logits]).numpy()), FLOAT_TOL * gain, name)
            differ = int((flat(bits) != fx.npy('gen_bits')).sum())
            self.assertEqual(differ, {'infinity-A': 1, 'infinity-B': 0}[name], name)


class InfinityAttentionOnnxTest(unittest.TestCase):
    """infinityAttention of each fixture's schedule: one head and the mean of heads of a block, for A's two captions in
    one batch (B: its one caption), against the weights the reference forward applies (test_infinity_attention)."""

    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(2)
        cls.fx = {name: Fixture(name) for name in NAMES}

    def test_weights_equal_the_reference_forward(self):
        for name, fx in self.fx.items():
            kv, cu, x = teacher_input(fx, fx.cfg['teacher_forced']['captions'])
            weights, _ = forward_weights(fx, kv, cu, x)
            depth, inputs = fx.model.cfg.depth, {'textFeatures': kv.numpy(), 'textOffsets': cu.numpy().astype(np.int64)}
            for layer, head in ((depth - 1, 1), (0, -1)):
                self_ref, cross_ref = (w.numpy() for w in weights[layer])
                pick = (lambda w: w.mean(axis=1)) if head < 0 else (lambda w: w[:, head])  # noqa: E731
                diffs, saved = run_one(
                    BUNDLES[name],
                    graph_stem(name, 'infinityAttention'),
                    {**inputs, 'nextInput': x.numpy(), 'attnLayer': np.array(layer), 'attnHead': np.array(head)},
                    {'selfAttention': pick(self_ref), 'crossAttention': pick(cross_ref)},
                    save=('selfAttention',),
                )
                self.assertEqual(len(diffs), 2)
                self.assertLessEqual(max(diffs.values()), FLOAT_TOL, f'{name} layer {layer} head {head}')
                rows = saved['selfAttention'].sum(-1)
                self.assertLessEqual(float(np.abs(rows - 1).max()), 1e-5, name)


class InfinityBundleTest(unittest.TestCase):
    """The exported folder: varscope.json's facts, file hashes, the CFG features, and the command's error lines."""

    def test_manifest_schedules_and_facts(self):
        a, b = manifest_of('infinity-A'), manifest_of('infinity-B')
        self.assertEqual((a['family'], a['format'], a['bits'], b['bits']), ('infinity', 'varscope-bundle', 16, 32))
        self.assertEqual([s['id'] for s in a['schedules']], ['hw1.000-0.06M', 'hw0.750-0.06M'])
        for s, (ratio, L, size) in zip(a['schedules'], ((1.0, 521, [256, 256]), (0.75, 665, [240, 320]))):
            self.assertEqual([tuple(x) for x in s['scales']], scale_schedule(ratio, '0.06M'))
            self.assertEqual(
                (s['tokenCount'], s['pixelSize'], s['beginEnds'][-1]),
                (L, size, [L - s['scales'][-1][2] * s['scales'][-1][1], L]),
            )
            self.assertEqual(
                sorted(s['graphs']),
                [
                    'bitsToLatent',
                    'bsqDecoder',
                    'bsqEncoder',
                    'infinityAttention',
                    'infinityStep',
                    'infinityTransformer',
                ],
            )
            self.assertEqual(s['graphs']['infinityTransformer']['outputs']['logits']['dims'], ['batch', L, 16, 2])
        self.assertEqual(a['infinity']['depth'], 2)
        self.assertEqual(
            (a['text']['featureWidth'], b['text']['featureWidth'], a['text']['attention']), (128, 256, 'float32')
        )
        self.assertEqual(
            b['schedules'][0]['graphs']['infinityStep']['outputs']['newKey']['dims'], [4, 'batch', 4, 'tokens', 16]
        )

    def test_files_hashed_and_unconditional_features(self):
        for name in NAMES:
            m = manifest_of(name)
            named = {g['file'] for s in m['schedules'] for g in s['graphs'].values()}
            self.assertEqual(set(m['files']), named | {'weights.bin', 'unconditionalText.bin'}, name)
            for rel, entry in m['files'].items():
                path = os.path.join(BUNDLES[name], rel)
                self.assertEqual((sha256_of(path), os.path.getsize(path)), (entry['sha256'], entry['bytes']), rel)
            uncond = np.fromfile(os.path.join(BUNDLES[name], 'unconditionalText.bin'), '<f4')
            model = load_infinity_checkpoint(os.path.join(INFINITY_FIXTURES, name, 'infinity.pth'))
            np.testing.assert_array_equal(
                uncond.reshape(m['unconditionalText']['dims']), model.cfg_uncond.detach().numpy()
            )

    def test_bad_arguments_get_one_line(self):
        a, b = (os.path.join(INFINITY_FIXTURES, n) for n in NAMES)
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, 'out')
            base = ['--vae', os.path.join(a, 'vae.pth'), '--infinity', os.path.join(a, 'infinity.pth'), '--out', out]
            cases = [
                (base[:-1] + [a], 'is not an empty folder'),
                (base + ['--ratios', '0.9'], 'not a template ratio'),
                (base + ['--ratios', '1.0,x'], 'h/w numbers'),
                (base[:3] + [os.path.join(b, 'infinity.pth')] + base[4:], 'predicts 32 bits per token, the VAE has 16'),
                (base + ['--arch', 'infinity_2b'], 'not an Infinity checkpoint of depth 32'),
            ]
            for argv, needle in cases:
                err = io.StringIO()
                with contextlib.redirect_stderr(err):
                    self.assertEqual(main(argv), 2, needle)
                self.assertEqual(len(err.getvalue().strip().splitlines()), 1, err.getvalue())
                self.assertIn(needle, err.getvalue())
            self.assertFalse(os.path.exists(out))


if __name__ == '__main__':
    unittest.main()
