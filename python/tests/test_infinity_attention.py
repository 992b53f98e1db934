"""Infinity's attention weights (what the infinityAttention graph returns) against the weights the reference model's
forward pass actually applies, recorded from its attention function: per block the block-causal self-attention
[B, H, L, L] and the cross-attention to the packed caption tokens [B, H, L, N]; rows sum to 1, zero above each scale's
end and outside a row's own caption. Also the engine's test data (test/fixtures/infinity-attention, rows of fixture
B's weights for its caption 0): it must equal what PyTorch computes now; `python -m tests.test_infinity_attention
--write` (from python/, PYTHONPATH=.) writes it again."""
import json
import os
import sys
import unittest
from contextlib import contextmanager
from unittest import mock

import numpy as np
import torch

from varscope.infinity import model as infinity_model
from varscope.infinity.model import block_attention, block_causal_bias, caption_mask
from varscope.infinity.schedules import begin_ends

from .fixtures import REPO
from .test_infinity_reference import FLOAT_TOL, NAMES, Fixture, maxabs

ENGINE_DATA = os.path.join(REPO, 'test', 'fixtures', 'infinity-attention')
# The engine test's cases: fixture B (4 blocks, 4 heads), its caption 0, one head and the mean of heads.
ENGINE_CASES = [{'layer': 2, 'head': 1}, {'layer': 0, 'head': 'mean'}]


@contextmanager
def recorded_attention():
    """Every softmax weight tensor the model's attention function computes while the block runs, in call order."""
    calls = []
    inner = infinity_model.attention_weights

    def record(*args, **kwargs):
        w = inner(*args, **kwargs)
        calls.append(w.detach().clone())
        return w

    with mock.patch.object(infinity_model, 'attention_weights', record):
        yield calls


def forward_weights(fx: Fixture, kv, cu, x):
    """Per block (self [B, H, L, L], cross [B, H, L, N]) as the teacher-forced forward applies them, and the
    AttentionProbes the forward hands out."""
    probes = []
    with torch.no_grad(), recorded_attention() as calls:
        fx.model(kv, cu, x, fx.schedule, probes=probes)
    # calls: the text pool's, then per block its self-attention's and its cross-attention's (the probes compute none)
    depth = fx.model.cfg.depth
    assert len(calls) == 1 + 2 * depth, len(calls)
    return [(calls[1 + 2 * i], calls[2 + 2 * i]) for i in range(depth)], probes


def teacher_input(fx: Fixture, captions):
    """Packed features of the fixture's captions and tf_x_wo_prefix for each."""
    kv, cu = fx.captions(captions)
    x = torch.from_numpy(fx.npy('tf_x_wo_prefix')).unsqueeze(0).expand(len(captions), -1, -1)
    return kv, cu, x


def head_of(w: np.ndarray, head) -> np.ndarray:
    """[H, ...] -> one head's [...] or the mean over heads."""
    return w.mean(axis=0) if head == 'mean' else w[head]


def engine_queries(fx: Fixture) -> np.ndarray:
    """Query rows kept for the engine test: the first and the last token of every scale."""
    return np.array(sorted({q for bg, ed in begin_ends(fx.schedule) for q in (bg, ed - 1)}), dtype=np.int64)


def engine_data(fx: Fixture) -> dict:
    """{file: array} of the engine test data: per case the kept rows of the self weights and every cross row."""
    kv, cu, x = teacher_input(fx, [0])
    weights, _ = forward_weights(fx, kv, cu, x)
    queries = engine_queries(fx)
    out = {'queries.npy': queries}
    for c in ENGINE_CASES:
        self_w, cross_w = (w[0].numpy() for w in weights[c['layer']])
        stem = f"layer{c['layer']}-head{c['head']}"
        out[f'{stem}.self.npy'] = head_of(self_w, c['head'])[queries].astype(np.float32)
        out[f'{stem}.cross.npy'] = head_of(cross_w, c['head']).astype(np.float32)
    return out


def write_engine_data() -> None:
    fx = Fixture('infinity-B')
    os.makedirs(ENGINE_DATA, exist_ok=True)
    for file, arr in engine_data(fx).items():
        np.save(os.path.join(ENGINE_DATA, file), np.ascontiguousarray(arr))
    index = {
        'about': 'Rows of the attention weights of the PyTorch reference (varscope.infinity.model) on fixture '
        'infinity-B, teacher-forced on tf_x_wo_prefix with caption 0 (float32 text attention): per case the self '
        'weights of the query rows in queries.npy [Q, L] and every cross row [L, N]. Written by '
        'python/tests/test_infinity_attention.py --write; held equal to PyTorch by the same file.',
        'fixture': 'infinity-B',
        'caption': 0,
        'cases': [{**c, 'self': f"layer{c['layer']}-head{c['head']}.self.npy"} for c in ENGINE_CASES],
    }
    for c in index['cases']:
        c['cross'] = c['self'].replace('.self.', '.cross.')
    with open(os.path.join(ENGINE_DATA, 'index.json'), 'w') as f:
        f.write(json.dumps(index, indent=1) + '\n')


class InfinityAttentionReferenceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(2)
        cls.fx = {name: Fixture(name) for name in NAMES}

    def test_probes_give_the_weights_the_forward_applies(self):
        for name, fx in self.fx.items():
            kv, cu, x = teacher_input(fx, fx.cfg['teacher_forced']['captions'])
            weights, probes = forward_weights(fx, kv, cu, x)
            mask = caption_mask(cu, kv.shape[0])
            for layer, (self_ref, cross_ref) in enumerate(weights):
                self_w, cross_w = block_attention(probes[layer], fx.schedule, mask)
                self.assertLessEqual(maxabs(self_w, self_ref.numpy()), FLOAT_TOL, f'{name} block {layer} self')
                self.assertLessEqual(maxabs(cross_w, cross_ref.numpy()), FLOAT_TOL, f'{name} block {layer} cross')

    def test_rows_sum_to_one_and_masks_hold(self):
        for name, fx in self.fx.items():
            kv, cu, x = teacher_input(fx, fx.cfg['teacher_forced']['captions'])
            weights, _ = forward_weights(fx, kv, cu, x)
            masked = torch.isinf(block_causal_bias(fx.schedule))  # [L, L]: keys of finer scales
            outside = torch.isinf(caption_mask(cu, kv.shape[0]))[:, 0, 0]  # [B, N]: the other captions' tokens
            self.assertGreater(int(masked.sum()), 0)
            for self_w, cross_w in weights:
                for w in (self_w, cross_w):
                    self.assertLessEqual(maxabs(w.sum(-1), np.ones(w.shape[:-1], np.float32)), 1e-5, name)
                self.assertEqual(float(self_w[:, :, masked].abs().max()), 0.0, name)
                for b in range(cu.shape[0] - 1):
                    self.assertEqual(float(cross_w[b][:, :, outside[b]].abs().sum()), 0.0, name)

    def test_engine_test_data_is_what_pytorch_computes(self):
        with open(os.path.join(ENGINE_DATA, 'index.json')) as f:
            index = json.load(f)
        self.assertEqual([{'layer': c['layer'], 'head': c['head']} for c in index['cases']], ENGINE_CASES)
        for file, arr in engine_data(self.fx['infinity-B']).items():
            stored = np.load(os.path.join(ENGINE_DATA, file))
            self.assertEqual(stored.shape, arr.shape, file)
            self.assertLessEqual(maxabs(stored, arr), FLOAT_TOL, file)


if __name__ == '__main__':
    if sys.argv[1:] == ['--write']:
        torch.set_num_threads(2)
        write_engine_data()
    else:
        unittest.main()
