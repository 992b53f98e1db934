"""WeightStore on graphs whose tensors torch.onnx wrote outside the protobuf (what it does for graphs over 2 GB)."""
import os
import tempfile
import unittest

import numpy as np
import onnx
from onnx import helper, numpy_helper

from varscope.bundle.onnx_store import WeightStore


def graph_with(weights):
    """A graph y = x @ w0 + ... (one MatMul per weight), each weight an initializer."""
    nodes, prev = [], 'x'
    for i, w in enumerate(weights):
        nodes.append(helper.make_node('MatMul', [prev, f'w{i}'], [f'h{i}']))
        prev = f'h{i}'
    g = helper.make_graph(
        nodes,
        'g',
        [helper.make_tensor_value_info('x', onnx.TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info(prev, onnx.TensorProto.FLOAT, [1, 4])],
        [numpy_helper.from_array(w, f'w{i}') for i, w in enumerate(weights)],
    )
    return helper.make_model(g, ir_version=8)  # onnx >= 1.19 writes IR 11+, past what onnxruntime may read


class ExternalInputTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        rng = np.random.default_rng(0)
        self.weights = [rng.standard_normal((4, 4)).astype(np.float32) for _ in range(2)] + [
            np.eye(4, dtype=np.float32)
        ]
        self.weights[2] = self.weights[0].copy()  # the same bytes twice: stored once
        # as torch.onnx leaves a large graph: every tensor in its own file beside the graph
        self.scratch = os.path.join(self.tmp.name, 'scratch')
        os.makedirs(self.scratch)
        onnx.save(
            graph_with(self.weights),
            os.path.join(self.scratch, 'graph.onnx'),
            save_as_external_data=True,
            all_tensors_to_one_file=False,
            size_threshold=0,
        )

    def tearDown(self):
        self.tmp.cleanup()

    def rehome(self, fp16=False):
        out = os.path.join(self.tmp.name, 'bundle')
        os.makedirs(out)
        model = onnx.load(os.path.join(self.scratch, 'graph.onnx'), load_external_data=False)
        store = WeightStore(out, min_bytes=16, fp16=fp16)
        store.externalize(model, self.scratch)
        onnx.save(model, os.path.join(out, 'g.onnx'))
        return out, store

    def test_external_tensors_move_into_the_shared_file(self):
        out, store = self.rehome()
        model = onnx.load(os.path.join(out, 'g.onnx'), load_external_data=False)
        for t in model.graph.initializer:
            self.assertEqual({e.key: e.value for e in t.external_data}['location'], 'weights.bin')
        self.assertEqual(store.size, 64 + 64)  # two distinct 64-byte tensors, the repeated one stored once
        loaded = onnx.load(os.path.join(out, 'g.onnx'))
        for t, w in zip(loaded.graph.initializer, self.weights):
            np.testing.assert_array_equal(numpy_helper.to_array(t), w)

    def test_external_tensors_stored_as_float16_where_exact(self):
        self.weights[1] = self.weights[1].astype(np.float16).astype(np.float32)
        onnx.save(
            graph_with(self.weights),
            os.path.join(self.scratch, 'graph.onnx'),
            save_as_external_data=True,
            all_tensors_to_one_file=False,
            size_threshold=0,
        )
        out, _ = self.rehome(fp16=True)
        loaded = onnx.load(os.path.join(out, 'g.onnx'))
        kinds = {t.name: t.data_type for t in loaded.graph.initializer}
        self.assertEqual(kinds['w1.fp16'], onnx.TensorProto.FLOAT16)
        self.assertEqual(kinds['w0'], onnx.TensorProto.FLOAT)  # not exact in float16: kept
        self.assertEqual([n.op_type for n in loaded.graph.node], ['Cast', 'MatMul', 'MatMul', 'MatMul'])

    def test_float16_tensor_below_the_threshold_stays_inline_as_float16(self):
        # 300 float32 values (1200 bytes) pass the 1024-byte threshold; as float16 (600 bytes) they stay in the graph
        bias = (np.arange(300, dtype=np.float32) / 8).reshape(1, 300)
        g = helper.make_graph(
            [helper.make_node('Add', ['x', 'b'], ['y'])],
            'g',
            [helper.make_tensor_value_info('x', onnx.TensorProto.FLOAT, [1, 300])],
            [helper.make_tensor_value_info('y', onnx.TensorProto.FLOAT, [1, 300])],
            [numpy_helper.from_array(bias, 'b')],
        )
        for external in (False, True):
            with self.subTest(external=external), tempfile.TemporaryDirectory() as tmp:
                src = os.path.join(tmp, 'src')
                os.makedirs(src)
                onnx.save(
                    helper.make_model(g, ir_version=8),
                    os.path.join(src, 'g.onnx'),
                    save_as_external_data=external,
                    all_tensors_to_one_file=False,
                    size_threshold=0,
                )
                model = onnx.load(os.path.join(src, 'g.onnx'), load_external_data=False)
                WeightStore(tmp, min_bytes=1024, fp16=True).externalize(model, src)
                (t,) = model.graph.initializer
                self.assertEqual((t.name, t.data_type, len(t.raw_data)), ('b.fp16', onnx.TensorProto.FLOAT16, 600))
                self.assertEqual(t.data_location, onnx.TensorProto.DEFAULT)
                np.testing.assert_array_equal(numpy_helper.to_array(t).astype(np.float32), bias)

    def test_external_tensor_without_its_folder_is_refused(self):
        model = onnx.load(os.path.join(self.scratch, 'graph.onnx'), load_external_data=False)
        with self.assertRaisesRegex(RuntimeError, 'outside the graph'):
            WeightStore(self.tmp.name, min_bytes=16).externalize(model)


if __name__ == '__main__':
    unittest.main()
