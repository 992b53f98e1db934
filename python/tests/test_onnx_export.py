"""export_graph keeps the weights out of torch's protobuf encoder and still writes the graph torch would have written."""
import contextlib
import gc
import os
import tempfile
import unittest
from unittest import mock

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from varscope.bundle import onnx_export
from varscope.bundle.onnx_store import WeightStore


class Small(torch.nn.Module):
    """A Linear on a 3-D input (its weight is folded into a transposed initializer), a small bias, an int64 and a bool
    buffer, a float16-exact weight and a scalar parameter."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.lin = torch.nn.Linear(64, 48)
        with torch.no_grad():
            self.lin.weight.copy_(torch.randn(48, 64, generator=g))
            self.lin.bias.copy_(torch.randn(48, generator=g))
        self.register_buffer('index', torch.arange(48, dtype=torch.long).flip(0))
        self.register_buffer('keep', torch.rand(48, generator=g) > 0.3)
        self.half_exact = torch.nn.Parameter(torch.randn(48, 48, generator=g).half().float())
        self.scale = torch.nn.Parameter(torch.tensor(0.5))

    def forward(self, x):
        h = self.lin(x)  # [B, l, 48]
        h = torch.where(self.keep, h, torch.zeros_like(h)).index_select(2, self.index)
        return (h @ self.half_exact) * self.scale


IO = ({'x': ('float32', ['batch', 5, 64])}, {'y': ('float32', ['batch', 5, 48])})


class ExportGraphTest(unittest.TestCase):
    def export(self, folder: str, fp16: bool, keep_weights_out: bool):
        store = WeightStore(folder, fp16=fp16)
        module = Small()
        if fp16:
            with torch.no_grad():
                for p in module.parameters():
                    p.copy_(p.half().float())
        with contextlib.ExitStack() as patches:
            if not keep_weights_out:  # torch's own export: it encodes the weights and holds clones while tracing
                for name in ('weights_kept_out', 'weights_not_cloned'):
                    patches.enter_context(mock.patch.object(onnx_export, name, lambda _: contextlib.nullcontext()))
            onnx_export.export_graph(module, (torch.randn(2, 5, 64),), IO, os.path.join(folder, 'g.onnx'), store)
        with open(os.path.join(folder, 'g.onnx'), 'rb') as f, open(os.path.join(folder, 'weights.bin'), 'rb') as w:
            return f.read(), w.read()

    def test_same_graph_and_weights_as_torch_encoding_them(self):
        for fp16 in (False, True):
            with self.subTest(fp16=fp16), tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
                graph, weights = self.export(a, fp16, keep_weights_out=True)
                torch_graph, torch_weights = self.export(b, fp16, keep_weights_out=False)
                self.assertEqual(graph, torch_graph)
                self.assertEqual(weights, torch_weights)
                self.assertGreater(len(weights), 48 * 64 * 2)

    def test_values_round_trip(self):
        with tempfile.TemporaryDirectory() as tmp:
            self.export(tmp, False, keep_weights_out=True)
            model = onnx.load(os.path.join(tmp, 'g.onnx'))  # external data read from weights.bin
            values = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
            m = Small()
            transposed = [v for v in values.values() if v.shape == (64, 48)]
            self.assertEqual(len(transposed), 1)  # the folded transpose of lin.weight
            np.testing.assert_array_equal(transposed[0], m.lin.weight.detach().numpy().T)
            self.assertEqual(values['keep'].dtype, np.bool_)
            np.testing.assert_array_equal(values['keep'], m.keep.numpy())
            np.testing.assert_array_equal(values['index'], m.index.numpy())
            self.assertNotIn('x', values)
            self.assertEqual([i.name for i in model.graph.input], ['x'])

    def test_torch_encodes_no_weight_bytes(self):
        encode = torch._C.Graph._export_onnx
        encoded = []

        def counting(graph, initializers, *rest, **kwargs):
            encoded.append(sum(t.numel() * t.element_size() for t in initializers.values()))
            return encode(graph, initializers, *rest, **kwargs)

        with mock.patch.object(torch._C.Graph, '_export_onnx', counting), tempfile.TemporaryDirectory() as tmp:
            self.export(tmp, False, keep_weights_out=True)
        self.assertEqual(encoded, [0])

    def test_tracer_holds_no_copy_of_the_weights(self):
        module = Small()
        copies = []

        def count_copies(mod, inputs):  # while the traced forward runs: tensors like lin.weight in other memory
            # Looked at with the tracer paused: reading the shape of a tensor of another test (a parameter alive in
            # gc) while tracing would ask the tracer to record it as a constant, which it refuses.
            tracing = torch._C._get_tracing_state()
            torch._C._set_tracing_state(None)
            try:
                w = mod.lin.weight
                live = [o for o in gc.get_objects() if isinstance(o, torch.Tensor) and o.shape == w.shape]
                copies.append(sum(1 for o in live if o.data_ptr() != w.data_ptr() and torch.equal(o, w)))
            finally:
                torch._C._set_tracing_state(tracing)

        module.register_forward_pre_hook(count_copies)
        with tempfile.TemporaryDirectory() as tmp:
            onnx_export.export_graph(
                module, (torch.randn(2, 5, 64),), IO, os.path.join(tmp, 'g.onnx'), WeightStore(tmp)
            )
        self.assertEqual(copies, [0])


if __name__ == '__main__':
    unittest.main()
