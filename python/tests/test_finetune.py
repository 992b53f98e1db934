"""The CPU fine-tune of the default model on new classes and the classifier agreement check, on tiny models:
the new class table starts from the old classes, prefix training computes exactly the full model's coarse logits,
runs resume exactly, and the agreement script measures what it says on real images and on samples.

    cd python && /usr/bin/python3 -m unittest tests.test_finetune
"""
import json
import os
import tempfile
import unittest

import numpy as np
import torch
from PIL import Image

from varscope.training import agreement, train_finetune, train_var, train_vae
from varscope.bundle.checkpoint import torch_load
from varscope.training.train_common import EmojiData
from varscope.training.train_eval import load_var

from .test_train import CLASSES, prepare, run_args, tiny_dataset

torch.set_num_threads(2)


def relabelled(src: str, dst: str) -> None:
    """The tiny dataset with two classes, red and not red, whose images came from the old classes red and green."""
    with np.load(src) as z:
        ds = {k: z[k] for k in z.files if k != 'meta_json'}
        meta = json.loads(str(z['meta_json']))
    ds['labels'] = (ds['labels'] != 0).astype(np.int64)
    ds['classes'] = np.array(['red', 'not red'])
    meta.update(
        class_categories=['red', 'green'], split_sha256=prepare.split_hash(ds['images'], ds['labels'], ds['held'])
    )
    prepare.write_dataset(dst, dict(ds, meta=meta))


class FinetuneTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        t = cls.tmp.name
        cls.data3, cls.data2 = os.path.join(t, 'tiny3.npz'), os.path.join(t, 'tiny2.npz')
        tiny_dataset(cls.data3)
        relabelled(cls.data3, cls.data2)
        train_vae.train_vae(
            run_args(
                train_vae,
                ['--data', cls.data3, '--out', os.path.join(t, 'vae'), '--steps', '3', '--vae-batch-size', '4'],
            )
        )
        cls.vae = os.path.join(t, 'vae', 'vae.pth')
        train_var.train_var(
            run_args(
                train_var,
                [
                    '--data',
                    cls.data3,
                    '--vae',
                    cls.vae,
                    '--out',
                    os.path.join(t, 'var'),
                    '--steps',
                    '3',
                    '--var-batch-size',
                    '4',
                ],
            )
        )
        cls.var = os.path.join(t, 'var', 'var.pth')
        cls.bundle = os.path.join(t, 'bundle')  # only its varscope.json's class names are read
        os.makedirs(cls.bundle)
        with open(os.path.join(cls.bundle, 'varscope.json'), 'w') as f:
            json.dump({'classes': CLASSES, 'sampling': {'cfg': 2.0, 'topK': 8, 'topP': 0.9}}, f)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def finetune(self, name, *extra):
        out = os.path.join(self.tmp.name, name)
        train_finetune.main(
            [
                '--data',
                self.data2,
                '--vae',
                self.vae,
                '--var',
                self.var,
                '--old-bundle',
                self.bundle,
                '--out',
                out,
                '--steps',
                '4',
                '--batch-size',
                '4',
                '--warmup',
                '2',
                '--prefix-scales',
                '2',
                '--full-every',
                '2',
                '--log-every',
                '1',
                '--threads',
                '2',
                *extra,
            ]
        )
        return out

    def test_new_class_table_starts_from_the_old_classes(self):
        old = load_var(self.var)
        new = train_finetune.with_new_classes(old, 2, [2, None])
        table = old.class_emb.weight
        torch.testing.assert_close(new.class_emb.weight[0], table[2], atol=0, rtol=0)
        torch.testing.assert_close(new.class_emb.weight[1], table[:3].mean(0), atol=0, rtol=0)
        torch.testing.assert_close(new.class_emb.weight[2], table[3], atol=0, rtol=0)  # the null class
        self.assertEqual(new.num_classes, 2)
        x = torch.randn(2, old.L - 1, old.Cvae, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():  # new class 0 and the null class behave exactly as old class 2 and the old null class
            torch.testing.assert_close(new(torch.tensor([0, 2]), x), old(torch.tensor([2, 3]), x), atol=0, rtol=0)
        data = EmojiData(self.data2, torch.device('cpu'))
        self.assertEqual(train_finetune.class_init(data, CLASSES), [0, 1])
        self.assertEqual(train_finetune.class_init(data, ['blue']), [None, None])

    def test_prefix_logits_are_the_full_models_coarse_logits(self):
        var = load_var(self.var)
        x = torch.randn(3, var.L - 1, var.Cvae, generator=torch.Generator().manual_seed(1))
        label = torch.tensor([0, 1, 3])
        with torch.no_grad():
            full = var(label, x)
            for scales in (1, 2):
                n = var.begin_ends[scales - 1][1]
                torch.testing.assert_close(
                    train_finetune.prefix_logits(var, label, x, n), full[:, :n], atol=1e-6, rtol=1e-5
                )

    def test_runs_resume_exactly_and_keep_the_asked_steps(self):
        a = self.finetune('fa', '--keep', '0,2')
        self.finetune('fb', '--stop-at', '3')
        b = self.finetune('fb', '--resume')
        wa, wb = torch_load(os.path.join(a, 'var.pth')), torch_load(os.path.join(b, 'var.pth'))
        for k in wa:
            torch.testing.assert_close(wa[k], wb[k], atol=0, rtol=0, msg=k)
        self.assertEqual(wa['class_emb.weight'].shape[0], 3)
        start = torch_load(self.var)
        self.assertFalse(torch.equal(wa['blocks.0.attn.mat_qkv.weight'], start['blocks.0.attn.mat_qkv.weight']))
        step0, step2 = torch_load(os.path.join(a, 'var_step0.pth')), torch_load(os.path.join(a, 'var_step2.pth'))
        torch.testing.assert_close(step0['blocks.0.attn.mat_qkv.weight'], start['blocks.0.attn.mat_qkv.weight'])
        self.assertFalse(torch.equal(step2['blocks.0.attn.mat_qkv.weight'], wa['blocks.0.attn.mat_qkv.weight']))
        with open(os.path.join(a, 'var_step2.json')) as f:
            meta = json.load(f)
        self.assertEqual((meta['step'], meta['classes'], meta['class_init']), (2, ['red', 'not red'], [0, 1]))
        with open(os.path.join(b, 'log.csv')) as f:  # the full steps (2 and 4) are logged, once each across the resume
            self.assertEqual([r.split(',')[0] for r in f.read().split()[1:]], ['2', '4'])

    def test_timed_schedule_warms_up_then_follows_the_time_spent(self):
        args = train_finetune.parse_args(
            ['--data', '-', '--vae', '-', '--var', '-', '--out', '-', '--lr', '1.0', '--warmup', '10']
        )
        self.assertAlmostEqual(train_finetune.timed_lr(args, 0, 0.0), 0.1)
        self.assertAlmostEqual(train_finetune.timed_lr(args, 20, 0.0), 1.0)
        self.assertAlmostEqual(train_finetune.timed_lr(args, 20, 0.5), 0.01 + 0.99 * 0.5)
        self.assertAlmostEqual(train_finetune.timed_lr(args, 20, 2.0), 0.01)


class AgreementTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        FinetuneTest.setUpClass()
        cls.tmp, cls.data, cls.vae, cls.var, cls.bundle = (
            FinetuneTest.tmp,
            FinetuneTest.data3,
            FinetuneTest.vae,
            FinetuneTest.var,
            FinetuneTest.bundle,
        )
        cls.d = EmojiData(cls.data, torch.device('cpu'))
        cls.clf = agreement.train_classifier(cls.d.train_images, cls.d.train_labels, 3, epochs=150, width=8)

    @classmethod
    def tearDownClass(cls):
        FinetuneTest.tearDownClass()

    def test_classifier_recognises_the_held_out_squares(self):
        pred = agreement.predict(self.clf, self.d.held_images)
        self.assertEqual((pred == self.d.held_labels).float().mean().item(), 1.0)

    def test_agreement_on_real_images_is_the_classifier_accuracy(self):
        images = torch.cat([self.d.train_images, self.d.held_images])
        labels = torch.cat([self.d.train_labels, self.d.held_labels])
        drawn = []

        def sample(c, n, seed):  # the first n real images of the class stand in for samples
            drawn.append((c, n, seed))
            return images[labels == c][:n]

        res = agreement.agreement(self.clf, sample, 3, 4, seed=7)
        self.assertEqual(drawn, [(0, 4, 7), (1, 4, 8), (2, 4, 9)])
        expect = []
        for c in range(3):
            pred = agreement.predict(self.clf, images[labels == c][:4])
            expect.append(float((pred == c).float().mean()))
            self.assertEqual(res['predicted'][c], pred.tolist())
        self.assertEqual(res['per_class'], expect)
        self.assertEqual((res['min'], res['mean']), (min(expect), float(np.mean(expect))))
        self.assertEqual(agreement.per_class_rate(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]), 3)[:2], [0.5, 1.0])

    def test_script_samples_every_class_with_the_bundles_settings(self):
        out, clf = os.path.join(self.tmp.name, 'agree'), os.path.join(self.tmp.name, 'clf.pt')
        argv = [
            '--data',
            self.data,
            '--vae',
            self.vae,
            '--var',
            self.var,
            '--out',
            out,
            '--sampling-from',
            self.bundle,
            '--per-class',
            '3',
            '--grid',
            '2',
            '--classifier',
            clf,
            '--epochs',
            '150',
            '--width',
            '8',
        ]
        first = agreement.main(argv)
        second = agreement.main(argv)  # loads the saved classifier, draws the same seeded samples
        self.assertTrue(os.path.isfile(clf))
        self.assertEqual(first['agreement'], second['agreement'])
        self.assertEqual(first['classifier']['held_out_accuracy'], second['classifier']['held_out_accuracy'])
        self.assertEqual(
            (first['sampling']['cfg'], first['sampling']['top_k'], first['sampling']['top_p']), (2.0, 8, 0.9)
        )
        res = first['agreement']
        self.assertEqual([len(p) for p in res['predicted']], [3, 3, 3])
        for c, (rate, pred) in enumerate(zip(res['per_class'], res['predicted'])):
            self.assertAlmostEqual(rate, sum(p == c for p in pred) / 3)
        with open(os.path.join(out, 'agreement.json')) as f:
            self.assertEqual(json.load(f)['agreement']['per_class'], res['per_class'])
        with Image.open(os.path.join(out, 'samples.png')) as grid:  # 2 per class, 3 classes, 16 px + 2 pad
            self.assertEqual(grid.size, (2 * 18 + 2, 3 * 18 + 2))
        self.assertEqual(first['classifier']['train_on'], 'real+reconstructions')
        with open(os.path.join(out, 'agreement.json')) as f:
            saved = json.load(f)['classifier']
        self.assertEqual(saved['held_out_accuracy'], first['classifier']['held_out_accuracy'])
        self.assertEqual(len(saved['held_out_per_class_reconstructed']), 3)

        # the saved samples, judged again without drawing: the same agreement; other settings are refused
        again = agreement.main(argv[:7] + [os.path.join(self.tmp.name, 'again'), '--samples-from', out] + argv[8:])
        self.assertEqual(again['agreement'], first['agreement'])
        with np.load(os.path.join(out, 'samples.npz')) as z:
            self.assertEqual(z['images'].shape, (3, 3, 16, 16, 3))
        other = argv[:7] + [os.path.join(self.tmp.name, 'other'), '--samples-from', out, '--seed', '1'] + argv[8:]
        with self.assertRaises(SystemExit) as refused:
            agreement.main(other)
        self.assertIn('samples.npz was drawn with', str(refused.exception))

    def test_augment_mirrors_shrinks_and_places_on_white(self):
        gen = torch.Generator().manual_seed(3)
        images = torch.randint(0, 256, (8, 16, 16, 3), dtype=torch.uint8)
        same = agreement.augment(images, gen, min_zoom=1.0)  # no shrinking: the image or its mirror image, exactly
        for a, b in zip(same, images):
            self.assertTrue(torch.equal(a, b) or torch.equal(a, b.flip(1)))
        black = agreement.augment(torch.zeros(64, 16, 16, 3, dtype=torch.uint8), gen, min_zoom=0.5)
        inked = (black < 128).all(-1).flatten(1).sum(1).float()  # pixels of the shrunk black square
        self.assertGreaterEqual(inked.min().item(), 0.5**2 * 256 * 0.8)
        self.assertLessEqual(inked.max().item(), 256)
        self.assertLess(inked.min().item(), 256)  # some were shrunk: the rest of the image is white
        self.assertTrue(((black == 255) | (black < 128).all(-1, keepdim=True)).float().mean() > 0.9)


if __name__ == '__main__':
    unittest.main()
