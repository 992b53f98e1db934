"""Export of Infinity's graphs into a folder, their weights in one shared weights.bin, with the bundle exporter's
graph writer (opset 17, tracer): the BSQ tokenizer's (bsqEncoder, bitsToLatent, bsqDecoder; precise GroupNorm
statistics in the encoder, whose bits must be exact) and the transformer's (infinityTransformer, infinityStep,
infinityAttention).

Every graph is made for one scale schedule. A bundle of several schedules names each graph file
`<graph>-<schedule id>.onnx`; the weights are stored once (WeightStore deduplicates by content)."""
import os
from typing import Dict, Optional

from ..bundle.onnx_export import export_graph, release_freed_memory
from ..bundle.onnx_store import WeightStore
from .bsq_vae import BSQVAE
from .graphs import (
    example_inputs,
    tokenizer_graphs,
    tokenizer_io,
    transformer_example_inputs,
    transformer_graphs,
    transformer_io,
)
from .model import Infinity
from .schedules import Schedule

PRECISE_NORM_GRAPHS = ('bsqEncoder',)


def graph_file(name: str, schedule_id: str = '') -> str:
    """The file of a graph: `<graph>.onnx`, or `<graph>-<schedule id>.onnx` in a bundle of several schedules."""
    return f'{name}-{schedule_id}.onnx' if schedule_id else f'{name}.onnx'


def _export(modules, io, inputs, folder, store, schedule_id, log) -> Dict[str, str]:
    files = {}
    for name, module in modules.items():
        files[name] = os.path.join(folder, graph_file(name, schedule_id))
        log(f'exporting {os.path.basename(files[name])}')
        export_graph(module, inputs[name], io[name], files[name], store, precise_norms=name in PRECISE_NORM_GRAPHS)
        release_freed_memory()
    return files


def export_tokenizer(
    vae: BSQVAE,
    vae_schedule: Schedule,
    folder: str,
    fp16: bool = False,
    store: Optional[WeightStore] = None,
    schedule_id: str = '',
    log=lambda _: None,
) -> Dict[str, str]:
    """Writes each tokenizer graph into folder, its weights into store (a new <folder>/weights.bin when None);
    returns the graph files."""
    os.makedirs(folder, exist_ok=True)
    store = store if store is not None else WeightStore(folder, fp16=fp16)
    modules = tokenizer_graphs(vae, vae_schedule)
    io, inputs = tokenizer_io(vae, vae_schedule), example_inputs(vae, vae_schedule)
    return _export(modules, io, inputs, folder, store, schedule_id, log)


def export_transformer(
    model: Infinity,
    schedule: Schedule,
    folder: str,
    store: Optional[WeightStore] = None,
    schedule_id: str = '',
    log=lambda _: None,
) -> Dict[str, str]:
    """Writes infinityTransformer, infinityStep and infinityAttention for one schedule into folder, weights into store
    (a new <folder>/weights.bin when None); returns the graph files."""
    os.makedirs(folder, exist_ok=True)
    store = store if store is not None else WeightStore(folder)
    modules = transformer_graphs(model, schedule)
    io, inputs = transformer_io(model, schedule), transformer_example_inputs(model, schedule)
    return _export(modules, io, inputs, folder, store, schedule_id, log)
