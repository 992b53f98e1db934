"""What keeps the exporter the same on every PyTorch it supports (1.13 and 2.x; npm test runs this layer on both):
the TorchScript exporter, torch's warnings kept off the terminal, and the fixture bundles each torch exported."""
import contextlib
import hashlib
import io
import os
import tempfile
import unittest
import warnings

import numpy as np
import onnx
import torch

from varscope.bundle.export import WarningLog
from varscope.bundle.onnx_export import torchscript_export_options, weights_kept_out

from .fixtures import REPO

BUNDLES = {
    'torch 1.13': os.path.join(REPO, 'out', 'bundles', 'official-var-A'),
    'torch 2.x': os.path.join(REPO, 'out', 'bundles', 'official-var-A-torch2'),
}
GRAPHS = ('encoder', 'quantizer', 'decoder', 'latentStep', 'transformer', 'attention', 'transformerStep')


class TorchScriptExporterTest(unittest.TestCase):
    def test_the_exporter_traces_and_hands_us_the_weights(self):
        # torch >= 2.9 defaults to the dynamo exporter; ours asks for the tracer, whose graph encoder gives us the
        # weights (weights_kept_out). A torch that drops dynamo=False or that encoder fails here, not in a user's export.
        self.assertTrue(hasattr(torch._C.Graph, '_export_onnx'), f'torch {torch.__version__}: no TorchScript encoder')
        lin = torch.nn.Linear(3, 2).eval()
        io_spec = ({'x': ('float32', ['batch', 3])}, {'y': ('float32', ['batch', 2])})
        params = {}
        with tempfile.TemporaryDirectory() as tmp, torch.no_grad(), weights_kept_out(params):
            path = os.path.join(tmp, 'lin.onnx')
            torch.onnx.export(lin, (torch.ones(2, 3),), path, **torchscript_export_options(io_spec))
            model = onnx.load(path)
        self.assertEqual(model.producer_name, 'pytorch')
        self.assertEqual(sorted(params), ['bias', 'weight'])
        self.assertTrue(torch.equal(params['weight'], lin.weight))
        self.assertEqual(sorted(i.name for i in model.graph.input), ['bias', 'weight', 'x'])  # weights left as inputs


class WarningLogTest(unittest.TestCase):
    def test_warnings_go_to_the_log_and_one_line_names_it(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, 'export.log')
            out = io.StringIO()
            with contextlib.redirect_stdout(out), warnings.catch_warnings(record=True) as shown:
                warnings.simplefilter('always')
                with WarningLog(False, path):
                    warnings.warn('Converting a tensor to a Python integer', UserWarning)
                    warnings.warn('Constant folding - Only steps=1', UserWarning)
            self.assertEqual(shown, [])  # nothing reached Python's own display (stderr)
            with open(path, encoding='utf-8') as f:
                text = f.read()
            self.assertIn('Converting a tensor to a Python integer', text)
            self.assertIn('Constant folding', text)
            self.assertEqual(
                out.getvalue(), f'note: 2 warnings from torch while exporting, in {path} (--verbose prints them)\n'
            )

    def test_verbose_prints_them(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), warnings.catch_warnings(record=True) as shown:
            warnings.simplefilter('always')
            with WarningLog(True):
                warnings.warn('Constant folding - Only steps=1', UserWarning)
        self.assertEqual([str(w.message) for w in shown], ['Constant folding - Only steps=1'])
        self.assertEqual(out.getvalue(), '')

    def test_no_warnings_no_line(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), WarningLog(False):
            pass
        self.assertEqual(out.getvalue(), '')


def dataflow(path: str) -> list:
    """A digest of what each graph output computes: every value named by its producer's op, attributes and inputs'
    digests (Merkle-style), constants by their value, initializers by their tensor (not their name). Two graphs with
    the same digests compute the same thing node for node, whatever the tracer named their values and nodes and in
    whatever order it emitted constants."""
    model = onnx.load(path, load_external_data=False)
    digest = lambda text: hashlib.sha256(text.encode()).hexdigest()
    values = {v.name: digest(f'input {v.name}') for v in model.graph.input}
    for t in model.graph.initializer:
        anonymous = onnx.TensorProto()
        anonymous.CopyFrom(t)
        anonymous.name = ''
        values[t.name] = digest(f'initializer {anonymous.SerializeToString().hex()}')
    for n in model.graph.node:
        attrs = ''.join(a.SerializeToString().hex() for a in sorted(n.attribute, key=lambda a: a.name))
        key = f'{n.domain}:{n.op_type} {attrs} ' + ' '.join(values.get(i, '') for i in n.input)
        for k, o in enumerate(n.output):
            values[o] = digest(f'{key} #{k}')
    return [values[o.name] for o in model.graph.output]


class BundlesOfBothTorchesTest(unittest.TestCase):
    """The fixture bundles exported by torch 1.13 and 2.x (tools/export_fixtures.sh; npm test makes both)."""

    @classmethod
    def setUpClass(cls):
        for name, d in BUNDLES.items():
            if not os.path.isfile(os.path.join(d, 'varscope.json')):
                raise AssertionError(f'{d} ({name}) is missing: run bash tools/export_fixtures.sh')

    def test_weights_are_byte_for_byte_the_same(self):
        for f in ('weights.bin', 'codebook.bin', 'trainingHits.bin'):
            a, b = (np.fromfile(os.path.join(d, f), dtype=np.uint8) for d in BUNDLES.values())
            self.assertTrue(np.array_equal(a, b), f)

    def test_graphs_compute_the_same_node_for_node(self):
        # They differ only in names (node names count up globally, anonymous values are numbered one apart from
        # torch 1.13's in transformerStep), the graph's name and producer_version, and, in transformerStep, the
        # order in which torch 2.x emits the Slice's index constants.
        for g in GRAPHS:
            a, b = (dataflow(os.path.join(d, f'{g}.onnx')) for d in BUNDLES.values())
            self.assertEqual(a, b, g)
