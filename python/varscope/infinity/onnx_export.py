"""Export of the BSQ tokenizer's graphs (bsqEncoder, bitsToLatent, bsqDecoder) into a folder, their weights in one
shared weights.bin, with the bundle exporter's graph writer (opset 17, tracer, precise GroupNorm statistics in the
encoder, whose bits must be exact)."""
import os
from typing import Dict

from ..bundle.onnx_export import export_graph
from ..bundle.onnx_store import WeightStore
from .bsq_vae import BSQVAE
from .graphs import example_inputs, tokenizer_graphs, tokenizer_io
from .schedules import Schedule

PRECISE_NORM_GRAPHS = ('bsqEncoder',)


def export_tokenizer(vae: BSQVAE, vae_schedule: Schedule, folder: str, fp16: bool = False) -> Dict[str, str]:
    """Writes <folder>/<graph>.onnx for each tokenizer graph and <folder>/weights.bin; returns the graph files."""
    os.makedirs(folder, exist_ok=True)
    store = WeightStore(folder, fp16=fp16)
    io, inputs = tokenizer_io(vae, vae_schedule), example_inputs(vae, vae_schedule)
    files = {}
    for name, module in tokenizer_graphs(vae, vae_schedule).items():
        files[name] = os.path.join(folder, f'{name}.onnx')
        export_graph(module, inputs[name], io[name], files[name], store, precise_norms=name in PRECISE_NORM_GRAPHS)
    return files
