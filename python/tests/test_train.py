"""The trainer of the default model: the dataset builder is deterministic, the training quantizer reproduces the
official fixture, one optimisation step lowers each loss on a fixed batch, and runs are seeded, resumable and
write checkpoints that load strictly like official ones.

    cd python && /usr/bin/python3 -m unittest tests.test_train
"""
import io
import json
import math
import os
import tempfile
import unittest

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from varscope.training import prepare_data as prepare, train_all, train_vae, train_var
from varscope.bundle.checkpoint import infer_var_config, infer_vae_config, load_models, torch_load
from varscope.training.train_common import lr_at
from varscope.training.train_quant import quantize_train, restart_dead_codes, update_ema_hits
from varscope.training.train_var import var_input_of, var_step_loss

from .fixtures import config, fixture, npy

torch.set_num_threads(2)

# Tiny models on 16x16 images (latent 4x4, scales 1, 2, 4) so whole runs take seconds on a CPU.
TINY = {
    'vae': {
        'ch': 32,
        'ch_mult': [1, 1, 1],
        'num_res_blocks': 1,
        'using_sa': False,
        'using_mid_sa': False,
        'vocab_size': 32,
        'z_channels': 8,
        'patch_nums': [1, 2, 4],
    },
    'var': {'depth': 1, 'embed_dim': 32, 'num_heads': 2, 'patch_nums': [1, 2, 4]},
}
CLASSES = ['red', 'green', 'blue']


def tiny_dataset(path: str, n: int = 24) -> dict:
    """A seeded set of 16x16 images: a coloured square (class = colour) at a random place on white."""
    rng = np.random.RandomState(0)
    images = np.full((n, 16, 16, 3), 255, np.uint8)
    labels = np.arange(n) % 3
    for i in range(n):
        y, x, s = rng.randint(0, 8), rng.randint(0, 8), rng.randint(4, 9)
        images[i, y : y + s, x : x + s] = 40
        images[i, y : y + s, x : x + s, labels[i]] = 230
    held = prepare.split_groups([str(i // 2) for i in range(n)], 0.25, seed=0)
    ds = {
        'images': images,
        'labels': labels.astype(np.int64),
        'held': held,
        'source': np.zeros(n, np.uint8),
        'names': np.array([f'img{i}' for i in range(n)]),
        'classes': np.array(CLASSES),
        'sources': np.array(['synthetic']),
        'meta': {
            'seed': 0,
            'background': [255, 255, 255],
            'count': n,
            'split_sha256': prepare.split_hash(images, labels, held),
        },
    }
    prepare.write_dataset(path, ds)
    return ds


def run_args(module, argv):
    """Parse a stage's CLI with the tiny architecture and CPU settings."""
    return module.parse_args(argv + ['--device', 'cpu', '--arch', json.dumps(TINY), '--log-every', '1'])


class DatasetTest(unittest.TestCase):
    def test_split_is_seeded_and_keeps_groups_together(self):
        groups = [f'g{i // 3}' for i in range(300)]  # 100 groups of 3 (an emoji and its variants)
        a, b = prepare.split_groups(groups, 0.1, seed=0), prepare.split_groups(groups, 0.1, seed=0)
        np.testing.assert_array_equal(a, b)
        self.assertFalse(np.array_equal(a, prepare.split_groups(groups, 0.1, seed=1)))
        held_groups = {g for g, h in zip(groups, a) if h}
        self.assertEqual(len(held_groups), 10)
        self.assertEqual(int(a.sum()), 30)
        for g, h in zip(groups, a):
            self.assertEqual(h, g in held_groups)

    def test_split_hash_is_stable_and_sees_the_split(self):
        images = np.arange(4 * 2 * 2 * 3, dtype=np.uint8).reshape(4, 2, 2, 3)
        labels = np.array([0, 1, 2, 0])
        held = np.array([False, True, False, False])
        self.assertEqual(prepare.split_hash(images, labels, held), prepare.split_hash(images.copy(), labels, held))
        self.assertNotEqual(prepare.split_hash(images, labels, held), prepare.split_hash(images, labels, ~held))

    def test_composite_is_alpha_over_white(self):
        rgba = np.zeros((64, 64, 4), np.uint8)
        rgba[..., 0], rgba[..., 3] = 200, 128  # half-transparent red
        rgba[0, 0] = (10, 20, 30, 255)  # one opaque pixel
        buf = io.BytesIO()
        Image.fromarray(rgba, 'RGBA').save(buf, format='PNG')
        out = prepare.composite(buf.getvalue()).astype(int)
        a = 128 / 255
        expect = np.round([200 * a + 255 * (1 - a), 255 * (1 - a), 255 * (1 - a)])
        self.assertTrue(np.all(np.abs(out[1, 1] - expect) <= 1), (out[1, 1], expect))
        self.assertEqual(out[0, 0].tolist(), [10, 20, 30])
        self.assertEqual(out.shape, (64, 64, 3))

    def test_entries_pick_classes_cap_them_and_keep_one_skin_tone(self):
        def emoji(u, sub, short, name='X', **kw):
            return dict(
                unified=u,
                image=f'{u.lower()}.png',
                subcategory=sub,
                short_name=short,
                name=name,
                has_img_twitter=kw.pop('img', True),
                **kw,
            )

        meta = [
            emoji('A', 'country-flag', 'flag-fr'),
            emoji(
                'B',
                'hand-fingers-open',
                'wave',
                skin_variations={
                    '1F3FB': {'image': 'b1.png', 'has_img_twitter': True},
                    '1F3FB-1F3FC': {'image': 'b12.png', 'has_img_twitter': True},
                    '1F3FC': {'image': 'b2.png', 'has_img_twitter': False},
                    '1F3FD': {'image': 'b3.png', 'has_img_twitter': True},
                },
            ),
            emoji('C', 'skin-tone', 'skin-tone-2'),  # in no class
            emoji('D', 'geometric', 'red_circle', img=False),  # no image in this source
            emoji('E', 'heart', 'love_letter'),  # excluded by name
            emoji('F', 'animal-mammal', 'cow', 'COW FACE'),
            emoji('G', 'animal-mammal', 'cow2', 'COW'),
        ]
        got = prepare.entries(meta, 'twitter', tones=1, cap=10, seed=0)
        idx = prepare.CATEGORIES.index
        self.assertEqual(
            sorted(got),
            [
                ('A', 'a.png', idx('Country flags')),
                ('B', 'b.png', idx('Hands')),
                ('B', 'b1.png', idx('Hands')),
                ('F', 'f.png', idx('Animal faces')),
            ],
        )
        self.assertEqual(len(prepare.entries(meta, 'twitter', tones=0, cap=10, seed=0)), 3)
        # a cap of one image per class keeps whole emoji only: the hand with its tone no longer fits
        self.assertEqual(sorted(g for g, _, _ in prepare.entries(meta, 'twitter', tones=1, cap=1, seed=0)), ['A', 'F'])
        self.assertEqual(sorted(prepare.entries(meta, 'twitter', 1, 10, seed=5)), sorted(got))

    def test_split_per_class_holds_out_emoji_of_every_class(self):
        groups = [f'g{i // 2}' for i in range(60)]  # 30 emoji in two styles
        labels = np.array([0] * 40 + [1] * 14 + [2] * 6)  # classes of 20, 7 and 3 emoji
        held = prepare.split_per_class(groups, labels, 0.1, seed=0)
        for cls, n_emoji in ((0, 2), (1, 2), (2, 2)):  # 10 % rounded, at least 2
            self.assertEqual(len({g for g, h, lab in zip(groups, held, labels) if h and lab == cls}), n_emoji)
        for g in set(groups):
            self.assertEqual(len({h for gg, h in zip(groups, held) if gg == g}), 1)

    def test_held_out_folder_is_an_image_folder_of_the_held_out_images(self):
        with tempfile.TemporaryDirectory() as tmp:
            npz = os.path.join(tmp, 'tiny.npz')
            ds = tiny_dataset(npz)
            folder = os.path.join(tmp, 'held')
            self.assertEqual(prepare.main(['--out', npz, '--held-out-folder', folder]), None)
            held = np.flatnonzero(ds['held'])
            written = sorted(
                os.path.join(c, f) for c in os.listdir(folder) for f in os.listdir(os.path.join(folder, c))
            )
            self.assertEqual(written, sorted(f'{CLASSES[ds["labels"][i]]}/{i:04d}-img{i}.png' for i in held))
            for i in held:
                with Image.open(os.path.join(folder, CLASSES[ds['labels'][i]], f'{i:04d}-img{i}.png')) as im:
                    np.testing.assert_array_equal(np.asarray(im.convert('RGB')), ds['images'][i])


class QuantTrainTest(unittest.TestCase):
    """quantize_train against the official-var-A fixture (official VectorQuantizer2 on the same weights)."""

    @classmethod
    def setUpClass(cls):
        cls.m = load_models(fixture('vae.pth'), fixture('var.pth'))
        cls.f = torch.from_numpy(npy('img0_f.npy'))  # [1, 16, 16, 16]
        cls.fhat = torch.from_numpy(npy('img0_fhat.npy'))  # [SN, 16, 16, 16]
        cls.idx = torch.from_numpy(npy('img0_idx.npy'))  # [1, L]

    def test_forward_matches_the_official_tokens_and_fhat(self):
        out = quantize_train(self.m.vae.quantize, self.f)
        V = self.m.vae.quantize.vocab_size
        for si, (bg, ed) in enumerate(config()['begin_ends']):
            expect = torch.bincount(self.idx[0, bg:ed], minlength=V).float()
            torch.testing.assert_close(out.hits_SV[si], expect)
        torch.testing.assert_close(out.f_hat, self.fhat[-1:], atol=1e-5, rtol=0)

    def test_vq_loss_is_the_official_commitment_formula(self):
        beta = 0.25
        out = quantize_train(self.m.vae.quantize, self.f, beta=beta)
        SN = len(self.fhat)
        expect = sum((1 + beta) * F.mse_loss(self.fhat[k : k + 1], self.f) for k in range(SN)) / SN
        self.assertAlmostEqual(out.vq_loss.item(), expect.item(), places=5)

    def test_straight_through_passes_the_gradient_unchanged(self):
        f = self.f.clone().requires_grad_(True)
        w = torch.randn(f.shape, generator=torch.Generator().manual_seed(0))
        (quantize_train(self.m.vae.quantize, f).f_hat * w).sum().backward()
        torch.testing.assert_close(f.grad, w)

    def test_ema_hits_follow_the_official_schedule(self):
        q = self.m.vae.quantize
        saved = q.ema_vocab_hit_SV.clone()
        h1, h2 = torch.rand(saved.shape), torch.rand(saved.shape)
        self.assertEqual(update_ema_hits(q, h1, 0), 1)
        torch.testing.assert_close(q.ema_vocab_hit_SV, h1)
        update_ema_hits(q, h2, 1)
        torch.testing.assert_close(q.ema_vocab_hit_SV, 0.9 * h1 + 0.1 * h2)
        q.ema_vocab_hit_SV.copy_(saved)

    def test_restart_replaces_only_dead_codes_with_residual_vectors(self):
        vae = train_vae.build_vae_model(TINY['vae'])
        q = vae.quantize
        before = q.embedding.weight.detach().clone()
        hits = torch.ones(q.vocab_size)
        dead = torch.tensor([3, 7, 20])
        hits[dead] = 0
        rest = torch.randn(50, q.Cvae, generator=torch.Generator().manual_seed(1))
        n = restart_dead_codes(q, hits, rest, torch.Generator().manual_seed(2), noise=0.0)
        self.assertEqual(n, 3)
        after = q.embedding.weight.detach()
        alive = torch.ones(q.vocab_size, dtype=torch.bool)
        alive[dead] = False
        torch.testing.assert_close(after[alive], before[alive])
        for d in dead:  # each restarted code is exactly one of the candidate vectors
            self.assertAlmostEqual((rest - after[d]).abs().sum(1).min().item(), 0.0, places=6)


class VarTrainTest(unittest.TestCase):
    def test_var_input_matches_the_official_fixture(self):
        m = load_models(fixture('vae.pth'), fixture('var.pth'))
        x = var_input_of(m.vae, torch.from_numpy(npy('img0_idx.npy')), m.var.begin_ends)
        torch.testing.assert_close(x, torch.from_numpy(npy('img0_var_input.npy')), atol=1e-5, rtol=0)

    def test_official_init_starts_uniform_and_with_closed_gates(self):
        torch.manual_seed(0)
        var = train_var.build_var_model(Cvae=8, vocab_size=64, num_classes=3, overrides=TINY['var'])
        std = math.sqrt(1 / 32 / 3)
        gates = var.blocks[0].ada_lin[-1].weight[: 2 * 32]
        self.assertAlmostEqual(gates.std().item(), std * 1e-5, delta=0.1 * std * 1e-5)
        self.assertAlmostEqual(var.pos_1LC.std().item(), std, delta=0.2 * std)
        idx = torch.randint(0, 64, (4, var.L), generator=torch.Generator().manual_seed(0))
        logits = var(torch.tensor([0, 1, 2, 3]), torch.randn(4, var.L - 1, 8))
        ce = F.cross_entropy(logits.reshape(-1, 64), idx.reshape(-1)).item()
        self.assertAlmostEqual(ce, math.log(64), delta=0.02)  # near-uniform predictions at init

    def test_one_step_lowers_the_teacher_forced_loss_on_a_fixed_batch(self):
        torch.manual_seed(0)
        vae = train_vae.build_vae_model(TINY['vae']).eval()
        var = train_var.build_var_model(vae.quantize.Cvae, vae.quantize.vocab_size, 3, TINY['var'])
        idx = torch.randint(0, vae.quantize.vocab_size, (8, var.L), generator=torch.Generator().manual_seed(3))
        label = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])  # 3 = the null class
        opt = train_var.make_optimizer(var, 1e-3, 0.05)
        before, _ = var_step_loss(var, vae, idx, label)
        before.backward()
        opt.step()
        with torch.no_grad():
            after, _ = var_step_loss(var, vae, idx, label)
        self.assertLess(after.item(), before.item() - 1e-3)


class VaeTrainTest(unittest.TestCase):
    def test_one_step_lowers_the_loss_on_a_fixed_batch(self):
        torch.manual_seed(0)
        vae = train_vae.build_vae_model(TINY['vae']).train()
        x = torch.rand(8, 3, 16, 16, generator=torch.Generator().manual_seed(4)) * 2 - 1
        args = train_vae.parse_args(['--data', '-', '--out', '-'])
        _, _, qo = train_vae.vae_step_loss(vae, x, args)
        restart_dead_codes(
            vae.quantize, torch.zeros(vae.quantize.vocab_size), qo.rest_NC, torch.Generator().manual_seed(0)
        )  # as the trainer's first step does
        opt = train_vae.make_optimizer(vae, 1e-3, 0.0)
        before, _, _ = train_vae.vae_step_loss(vae, x, args)
        opt.zero_grad()
        before.backward()
        opt.step()
        with torch.no_grad():
            after, _, _ = train_vae.vae_step_loss(vae, x, args)
        self.assertLess(after.item(), before.item() - 1e-3)

    def test_lr_schedule_warms_up_then_decays_to_the_floor(self):
        self.assertAlmostEqual(lr_at(0, 100, 1.0, 10), 0.1)
        self.assertAlmostEqual(lr_at(9, 100, 1.0, 10), 1.0)
        self.assertAlmostEqual(lr_at(10, 100, 1.0, 10), 1.0)
        self.assertAlmostEqual(lr_at(55, 100, 1.0, 10), 0.01 + 0.99 * 0.5)
        self.assertAlmostEqual(lr_at(100, 100, 1.0, 10), 0.01)


class PipelineTest(unittest.TestCase):
    """Whole runs of the tiny model: seeded, resumable, checkpoints in the official layout, metrics written."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.data = os.path.join(cls.tmp.name, 'tiny.npz')
        cls.ds = tiny_dataset(cls.data)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def vae_run(self, name, steps, resume=False, stop_at=None):
        out = os.path.join(self.tmp.name, name)
        argv = [
            '--data',
            self.data,
            '--out',
            out,
            '--steps',
            str(steps),
            '--vae-batch-size',
            '4',
            '--restart-every',
            '2',
        ] + (['--resume'] if resume else [])
        argv += ['--stop-at', str(stop_at)] if stop_at else []
        train_vae.train_vae(run_args(train_vae, argv))
        return out

    def test_vae_runs_are_seeded_and_resume_exactly(self):
        a = torch_load(os.path.join(self.vae_run('a', 4), 'vae.pth'))
        b = torch_load(os.path.join(self.vae_run('b', 4), 'vae.pth'))
        self.vae_run('c', 4, stop_at=2)  # interrupted after step 2, then resumed
        c = torch_load(os.path.join(self.vae_run('c', 4, resume=True), 'vae.pth'))
        for k in a:
            torch.testing.assert_close(a[k], b[k], atol=0, rtol=0, msg=k)
            torch.testing.assert_close(a[k], c[k], atol=0, rtol=0, msg=k)
        cfg = infer_vae_config(a)  # the exporter's loader reads it like an official checkpoint
        self.assertEqual((cfg.vocab_size, cfg.Cvae, cfg.ch_mult), (32, 8, (1, 1, 1)))
        self.assertGreater(a['quantize.ema_vocab_hit_SV'].sum().item(), 0)
        with open(os.path.join(self.tmp.name, 'c', 'log.csv')) as f:
            self.assertEqual([r.split(',')[0] for r in f.read().split()[1:]], ['1', '2', '3', '4'])

    def test_vae_fine_tune_starts_from_init_and_keeps_its_codebook(self):
        start = os.path.join(self.vae_run('i0', 2), 'vae.pth')
        out = os.path.join(self.tmp.name, 'i1')
        argv = [
            '--data',
            self.data,
            '--out',
            out,
            '--steps',
            '1',
            '--vae-batch-size',
            '4',
            '--vae-lr',
            '0',
            '--restart-every',
            '1000',
            '--init',
            start,
        ]
        train_vae.train_vae(run_args(train_vae, argv))
        a, b = torch_load(start), torch_load(os.path.join(out, 'vae.pth'))
        # lr 0 and no restart window reached: the fine-tuned VQ-VAE is its start, codebook included
        # (a fresh run re-draws every code from data at step 1)
        torch.testing.assert_close(a['quantize.embedding.weight'], b['quantize.embedding.weight'], atol=0, rtol=0)
        torch.testing.assert_close(a['decoder.conv_out.weight'], b['decoder.conv_out.weight'], atol=0, rtol=0)
        with open(os.path.join(out, 'vae.json')) as f:
            self.assertEqual(json.load(f)['training']['init']['file'], 'vae.pth')

    def test_decoder_only_fine_tune_keeps_every_token(self):
        start = os.path.join(self.vae_run('d0', 2), 'vae.pth')
        out = os.path.join(self.tmp.name, 'd1')
        argv = [
            '--data',
            self.data,
            '--out',
            out,
            '--steps',
            '2',
            '--vae-batch-size',
            '4',
            '--vae-lr',
            '1e-2',
            '--vae-warmup',
            '1',
            '--restart-every',
            '1',
            '--init',
            start,
            '--only',
            'decoder,post_quant_conv',
        ]
        train_vae.train_vae(run_args(train_vae, argv))
        a, b = torch_load(start), torch_load(os.path.join(out, 'vae.pth'))
        changed = {k for k in a if k in b and not torch.equal(a[k], b[k])}
        # the encoder, quant_conv and quantizer (codebook, phi) are untouched, so are the tokens; the decoder learnt
        self.assertTrue(changed, 'nothing trained')
        self.assertEqual(
            {k for k in changed if not k.startswith(('decoder.', 'post_quant_conv.'))}, {'quantize.ema_vocab_hit_SV'}
        )  # the usage record, a buffer, follows the batches

    def test_var_runs_resume_exactly(self):
        vae = os.path.join(self.vae_run('v', 2), 'vae.pth')

        def run(name, stop_at=None, resume=False):
            out = os.path.join(self.tmp.name, name)
            argv = [
                '--data',
                self.data,
                '--vae',
                vae,
                '--out',
                out,
                '--steps',
                '4',
                '--var-batch-size',
                '4',
                '--var-warmup',
                '2',
            ] + (['--resume'] if resume else [])
            train_var.train_var(run_args(train_var, argv + (['--stop-at', str(stop_at)] if stop_at else [])))
            return torch_load(os.path.join(out, 'var.pth'))

        a = run('va')
        run('vb', stop_at=3)
        b = run('vb', resume=True)
        for k in a:
            torch.testing.assert_close(a[k], b[k], atol=0, rtol=0, msg=k)
        self.assertIn('attn_bias_for_masking', a)  # buffers saved, as in official checkpoints

    def test_train_all_writes_checkpoints_and_metrics(self):
        out = os.path.join(self.tmp.name, 'all')
        train_all.main(
            [
                '--data',
                self.data,
                '--out',
                out,
                '--vae-steps',
                '3',
                '--var-steps',
                '5',
                '--vae-batch-size',
                '4',
                '--var-batch-size',
                '4',
                '--early-frac',
                '0.4',
                '--per-class',
                '2',
                '--device',
                'cpu',
                '--arch',
                json.dumps(TINY),
            ]
        )
        m = load_models(os.path.join(out, 'vae', 'vae.pth'), os.path.join(out, 'var', 'var.pth'))
        self.assertEqual(infer_var_config(torch_load(os.path.join(out, 'var', 'var_early.pth'))).num_classes, 3)
        self.assertEqual(m.var_cfg.patch_nums, (1, 2, 4))
        with open(os.path.join(out, 'var', 'var_early.json')) as f:
            self.assertEqual(json.load(f)['step'], 2)  # round(0.4 * 5)
        with open(os.path.join(out, 'eval', 'metrics.json')) as f:
            metrics = json.load(f)
        n_held = int(self.ds['held'].sum())
        self.assertEqual(metrics['vae']['images'], n_held)
        self.assertEqual(len(metrics['vae']['psnr_per_scale']), 3)
        self.assertEqual(metrics['vae']['psnr'], metrics['vae']['psnr_per_scale'][-1])
        self.assertTrue(0 < metrics['vae']['codebook_usage_percent'] <= 100)
        acc = metrics['var']['token_accuracy_per_scale']
        self.assertAlmostEqual(metrics['var']['token_accuracy'], (acc[0] + 4 * acc[1] + 16 * acc[2]) / 21, places=6)
        with Image.open(os.path.join(out, 'eval', 'samples.png')) as grid:  # 2 per class, 3 classes, 16 px + 2 pad
            self.assertEqual(grid.size, (2 * 18 + 2, 3 * 18 + 2))


if __name__ == '__main__':
    unittest.main()
