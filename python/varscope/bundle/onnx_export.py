"""Export each bundle graph with torch.onnx (opset 17) and move its weights into the shared weights file."""
import contextlib
import ctypes
import gc
import inspect
import math
import os
import tempfile
from typing import Dict, Optional, Tuple

import numpy as np
import onnx
import torch

from .bundle_spec import dynamic_axes, graph_io, initializer_facts
from .checkpoint import LoadedModels
from .graphs import (
    AttentionGraph,
    DecoderGraph,
    EncoderGraph,
    LatentStepGraph,
    QuantizerGraph,
    TransformerGraph,
    TransformerStepGraph,
)
from .interp import down_matrices, up_matrices
from .onnx_store import WeightStore
from .weight_map import Origins

OPSET = 17
# Graphs whose GroupNorms keep precise statistics (two-level float32 sums). The encoder's f must match the reference
# to 5e-5; the decoder (held to 1e-3 on images) runs once per scale on every image opened, and its casts and float64 arithmetic took
# half its time (default model: 12.3 -> 8.0 ms per decode with torch's float32 InstanceNormalization export;
# fixture img0-2 decoded images stay within 3e-5 of the reference).
PRECISE_NORM_ROLES = ('encoder',)
# The block-causal mask [1, 1, L, L] (1.85 MB at L = 680) is computed in the graph from the scale of each token
# (var.lvl_1L, [1, L] int64, 5 kB, which the graphs hold anyway); onnxruntime folds it once when the graph opens.
MASK, LEVELS = 'var.attn_bias_for_masking', 'var.lvl_1L'
# ONNX element type of each torch dtype a weight may have (torch's own mapping; numpy holds all of these).
TORCH_TO_ONNX = {
    torch.float32: onnx.TensorProto.FLOAT,
    torch.float16: onnx.TensorProto.FLOAT16,
    torch.float64: onnx.TensorProto.DOUBLE,
    torch.int64: onnx.TensorProto.INT64,
    torch.int32: onnx.TensorProto.INT32,
    torch.int16: onnx.TensorProto.INT16,
    torch.int8: onnx.TensorProto.INT8,
    torch.uint8: onnx.TensorProto.UINT8,
    torch.bool: onnx.TensorProto.BOOL,
}


def example_inputs(m: LoadedModels) -> Dict[str, tuple]:
    """Tracing inputs per role; dynamic sizes differ from 1 so the tracer keeps them symbolic."""
    C, h = m.vae_cfg.Cvae, m.var_cfg.patch_nums[-1]
    H, pns = h * m.vae.downsample, m.var_cfg.patch_nums
    depth, nh, hd = m.var_cfg.depth, m.var_cfg.num_heads, m.var_cfg.embed_dim // m.var_cfg.num_heads
    ups, downs = up_matrices(pns), down_matrices(pns)
    g = torch.Generator().manual_seed(0)
    return {
        'encoder': (torch.rand(2, 3, H, H, generator=g) * 2 - 1,),
        'quantizer': (torch.randn(1, C, h, h, generator=g),),
        'decoder': (torch.randn(2, C, h, h, generator=g),),
        'latentStep': (
            torch.randn(1, C, h, h, generator=g),
            torch.zeros(1, pns[1] ** 2, dtype=torch.long),
            ups[1],
            downs[2],
            torch.tensor(0, dtype=torch.long),
        ),
        'transformer': (
            torch.tensor([0, m.var_cfg.num_classes]),
            torch.randn(2, m.var.L - m.var.first_l, C, generator=g),
        ),
        'attention': (
            torch.tensor([0, m.var_cfg.num_classes]),
            torch.randn(2, m.var.L - m.var.first_l, C, generator=g),
            torch.tensor(0, dtype=torch.long),
        ),
        'transformerStep': (
            torch.tensor([0, m.var_cfg.num_classes]),
            torch.randn(2, pns[1] ** 2, C, generator=g),
            torch.tensor(1, dtype=torch.long),
            torch.randn(m.var.first_l, depth, 2, nh, hd, generator=g),
            torch.randn(m.var.first_l, depth, 2, nh, hd, generator=g),
        ),
    }


def graph_modules(m: LoadedModels) -> Dict[str, torch.nn.Module]:
    """The nn.Module behind each role."""
    pns = m.var_cfg.patch_nums
    return {
        'encoder': EncoderGraph(m.vae),
        'quantizer': QuantizerGraph(m.vae, up_matrices(pns), down_matrices(pns)),
        'decoder': DecoderGraph(m.vae),
        'latentStep': LatentStepGraph(m.vae),
        'transformer': TransformerGraph(m.var),
        'attention': AttentionGraph(m.var),
        'transformerStep': TransformerStepGraph(m.var),
    }


@contextlib.contextmanager
def affine_layernorms(module: torch.nn.Module):
    """Give affine-free LayerNorms ones / zeros parameters while exporting (x * 1 + 0 is exact).

    NOTE: torch 1.13's opset-17 LayerNormalization symbolic emits an empty scale input for them, which the
    ONNX checker rejects."""
    patched = [ln for ln in module.modules() if isinstance(ln, torch.nn.LayerNorm) and ln.weight is None]
    for ln in patched:
        ln.weight = torch.nn.Parameter(torch.ones(ln.normalized_shape), requires_grad=False)
        ln.bias = torch.nn.Parameter(torch.zeros(ln.normalized_shape), requires_grad=False)
    try:
        yield
    finally:
        for ln in patched:
            ln.weight, ln.bias = None, None


def _group_norm_precise_stats(self: torch.nn.GroupNorm, x: torch.Tensor) -> torch.Tensor:
    """GroupNorm whose mean and variance (two-pass) are float32 sums in two levels, over k rows of n/k values
    (k the divisor of n nearest below sqrt(n)), with static shapes (the batch as -1).

    NOTE: float32 throughout, so that GPU providers run it (WebGPU has no float64: float64 statistics put 180
    nodes of the default model's encoder on the CPU); summed in two levels it is as accurate as the float64
    statistics were (see precise_group_norms). Static shapes leave no Shape/Gather/Concat chains, which
    onnxruntime runs on the CPU inside a GPU session."""
    C, H, W = int(x.shape[1]), int(x.shape[2]), int(x.shape[3])  # static in every exported graph
    G = self.num_groups
    n = C // G * H * W
    k = max(d for d in range(1, math.isqrt(n) + 1) if n % d == 0)
    xg = x.reshape(-1, G, k, n // k)  # [B, G, k, n/k]
    d = xg - xg.mean(dim=-1, keepdim=True).mean(dim=-2, keepdim=True)
    var = d.square().mean(dim=-1, keepdim=True).mean(dim=-2, keepdim=True)
    y = (d / torch.sqrt(var + self.eps)).reshape(-1, C, H, W)
    return y * self.weight.reshape(1, C, 1, 1) + self.bias.reshape(1, C, 1, 1)


@contextlib.contextmanager
def precise_group_norms(module: torch.nn.Module):
    """Export GroupNorms with precise statistics (see _group_norm_precise_stats).

    NOTE: onnxruntime's float32 reductions over a whole channel (65536 values at 256 px) sum less accurately
    than PyTorch's cascaded sums; where a channel's mean is large against its spread, the error grows through
    the network (encoder f of the official fixture img2: 5.9e-5 off with one-level float32 sums, 7e-6 with
    float64 statistics, against 5e-6 between PyTorch float32 and float64)."""
    patched = [gn for gn in module.modules() if isinstance(gn, torch.nn.GroupNorm) and gn.affine]
    for gn in patched:
        gn.forward = _group_norm_precise_stats.__get__(gn)
    try:
        yield
    finally:
        for gn in patched:
            del gn.forward


def apply_io_spec(model: onnx.ModelProto, io: tuple) -> None:
    """Write the manifest's dims on the graph inputs / outputs (the tracer leaves some static sides symbolic)."""
    for values, table in ((model.graph.input, io[0]), (model.graph.output, io[1])):
        for v in values:
            if v.name not in table:
                continue
            shape = v.type.tensor_type.shape
            shape.ClearField('dim')
            for d in table[v.name][1]:
                dim = shape.dim.add()
                if isinstance(d, str):
                    dim.dim_param = d
                else:
                    dim.dim_value = d


def mask_from_levels(model: onnx.ModelProto) -> None:
    """Replace the stored mask initializer with nodes that compute it: where(lvl[q] >= lvl[k], 0, -inf)."""
    graph = model.graph
    stored = [t for t in graph.initializer if t.name == MASK]
    if not stored:
        return
    if not any(t.name == LEVELS for t in graph.initializer):
        raise RuntimeError(f'{MASK} is stored but {LEVELS}, from which it is computed, is not in the graph')
    graph.initializer.remove(stored[0])
    h = onnx.helper
    const = lambda name, value: h.make_node('Constant', [], [name], value=value, name=name)
    nodes = [
        const('mask/axis1', h.make_tensor('a1', onnx.TensorProto.INT64, [1], [1])),
        const('mask/axis2', h.make_tensor('a2', onnx.TensorProto.INT64, [1], [2])),
        const('mask/zero', h.make_tensor('z', onnx.TensorProto.FLOAT, [], [0.0])),
        const('mask/minusInf', h.make_tensor('m', onnx.TensorProto.FLOAT, [], [float('-inf')])),
        h.make_node('Unsqueeze', [LEVELS, 'mask/axis2'], ['mask/query'], name='mask/query'),  # [1, L, 1]
        h.make_node('Unsqueeze', [LEVELS, 'mask/axis1'], ['mask/key'], name='mask/key'),  # [1, 1, L]
        h.make_node('GreaterOrEqual', ['mask/query', 'mask/key'], ['mask/sees'], name='mask/sees'),  # [1, L, L]
        h.make_node('Where', ['mask/sees', 'mask/zero', 'mask/minusInf'], ['mask/bias'], name='mask/bias'),
        h.make_node('Unsqueeze', ['mask/bias', 'mask/axis1'], [MASK], name='mask/unsqueeze'),  # [1, 1, L, L]
    ]
    rest = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + rest)


@contextlib.contextmanager
def weights_kept_out(params: Dict[str, torch.Tensor]):
    """While torch.onnx.export runs, its graph encoder gets no weights: it writes the graph with every weight as a
    graph input, and `params` receives the weights by name (the model's own tensors or views of them, no copy).

    NOTE: torch encodes a graph under 2 GB with all its weights inside one protobuf, which it holds as the message, its
    serialized string and a Python bytes object at once, then parses again to check it: official d16's transformer
    took 3.4 x its 1.24 GB of weights on top of the model (peak 7.1 GB). The encoder is a method of torch._C.Graph
    that every TorchScript-based export calls with the final (folded) weights first; where it is missing, torch
    encodes the weights itself and the graph is re-homed as before."""
    encode = getattr(torch._C.Graph, '_export_onnx', None)
    if encode is None:
        yield
        return

    def encode_without_weights(graph, initializers, *rest, **kwargs):
        if isinstance(initializers, dict) and initializers:
            params.update(initializers)
            initializers = {}
        return encode(graph, initializers, *rest, **kwargs)

    torch._C.Graph._export_onnx = encode_without_weights
    try:
        yield
    finally:
        torch._C.Graph._export_onnx = encode


@contextlib.contextmanager
def weights_not_cloned(module: torch.nn.Module):
    """While torch traces `module`, the clones it makes of the module's weights before the forward starts are freed at
    once instead of held until the trace ends.

    NOTE: torch's tracer (torch.jit._trace.ONNXTracedModule) clones every input of the trace, the module's weights
    included, and keeps the clones to the end: a second copy of the weights (official d16's transformer: +1.5 GB).
    Each clone still runs, so the traced graph (and the numbering of its values) is the same; clone() of one of the
    module's tensors, while tracing and before the forward starts, then returns the tensor itself."""
    state = {id(t) for t in module.parameters()} | {id(t) for t in module.buffers()}
    clone, before_forward = torch.Tensor.clone, [True]

    def clone_released(self, *args, **kwargs):
        copy = clone(self, *args, **kwargs)
        if before_forward[0] and id(self) in state and torch._C._get_tracing_state() is not None:
            return self
        return copy

    def forward_starts(*_):
        before_forward[0] = False

    hook = module.register_forward_pre_hook(forward_starts)
    torch.Tensor.clone = clone_released
    try:
        yield
    finally:
        torch.Tensor.clone = clone
        hook.remove()


def weights_as_initializers(model: onnx.ModelProto, params: Dict[str, torch.Tensor]) -> Dict[str, np.ndarray]:
    """Turn the graph inputs that weights_kept_out left for the weights back into initializers, in the order and form
    torch gives them (graph input order); their values stay outside the protobuf and are returned by name, as arrays
    over the tensors' own memory (WeightStore.externalize reads them)."""
    graph, values = model.graph, {}
    kept = [v for v in graph.input if v.name not in params]
    names = [v.name for v in graph.input if v.name in params]
    if not names:
        return values
    del graph.input[:]
    graph.input.extend(kept)
    for name in names:
        t = params[name].detach()
        if t.dtype not in TORCH_TO_ONNX:
            raise RuntimeError(f'weight {name}: element type {t.dtype} is not supported in a bundle')
        arr = t.numpy()  # shares memory, strides included (a folded transpose is a view)
        init = graph.initializer.add()
        init.name = name
        init.dims.extend(t.shape)
        init.data_type = TORCH_TO_ONNX[t.dtype]
        init.data_location = onnx.TensorProto.EXTERNAL  # the values come from `values`
        values[name] = arr
    return values


def weight_sources(params: Dict[str, torch.Tensor], origins: Origins) -> Dict[str, dict]:
    """initializer name -> the checkpoint tensor it copies (weight_map source entry plus `rounded`), for every weight
    torch gave the graph; the others must be constants of the architecture (test_weight_map proves it for the
    graphs it exports: two checkpoints, the same constants)."""
    sources = {}
    for name, t in params.items():
        found = origins.source(t)
        if found is not None:
            src, origin = found
            sources[name] = dict(src, rounded=origin.rounded)
    return sources


def torchscript_export_options(io: tuple) -> dict:
    """torch.onnx.export's options for a bundle graph, on the TorchScript (tracing) exporter in every torch.

    NOTE: torch >= 2.9 defaults to the dynamo exporter (torch.export). We keep the tracer on purpose: the graphs,
    their weight names and the weight store's hooks (weights_kept_out, weights_not_cloned) are the tracer's, and a
    bundle must be the same whichever torch exported it. test_torch_compat fails if a release drops dynamo=False."""
    ins, outs = io
    kwargs = dict(
        input_names=list(ins),
        output_names=list(outs),
        dynamic_axes=dynamic_axes(io),
        opset_version=OPSET,
        do_constant_folding=True,
    )
    if 'dynamo' in inspect.signature(torch.onnx.export).parameters:
        kwargs['dynamo'] = False
    return kwargs


def export_graph(
    module: torch.nn.Module,
    args: tuple,
    io: tuple,
    path: str,
    store: WeightStore,
    precise_norms: bool = True,
    facts: Optional[Dict[str, list]] = None,
    origins: Optional[Origins] = None,
) -> None:
    """torch.onnx.export to a scratch folder (external data there when > 2 GB), then re-home the weights.
    precise_norms: precise GroupNorm statistics (see precise_group_norms); else torch's own export. origins: the
    checkpoint tensors, so that the store records which one each weight copies (weight_map.py)."""
    kwargs = torchscript_export_options(io)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = os.path.join(tmp, 'graph.onnx')
        norms = precise_group_norms(module) if precise_norms else contextlib.nullcontext()
        params: Dict[str, torch.Tensor] = {}
        with torch.no_grad(), affine_layernorms(module), norms, weights_kept_out(params), weights_not_cloned(module):
            torch.onnx.export(module.eval(), args, scratch, **kwargs)
        # Weights torch wrote outside the protobuf stay there until the store takes them one by one.
        model = onnx.load(scratch, load_external_data=False)
        given = weights_as_initializers(model, params)
        apply_io_spec(model, io)
        mask_from_levels(model)
        shapes = {t.name: list(t.dims) for t in model.graph.initializer}
        for name, dims in (facts or {}).items():
            if shapes.get(name) != dims:  # the engine reads these to check varscope.json: they must be there
                raise RuntimeError(
                    f'{os.path.basename(path)}: initializer {name} is {shapes.get(name)}, expected {dims}'
                )
        sources = weight_sources(params, origins) if origins is not None else None
        store.externalize(model, tmp, given, sources)
        del given, params
    onnx.save(model, path)


def release_freed_memory() -> None:
    """Collect garbage, then hand the C heap's free pages back to the system.

    NOTE: glibc keeps freed blocks under its mmap threshold (which rises to 32 MB as large blocks are freed) in its
    heaps, so the tracer's per-weight copies and activations stay resident after each graph; malloc_trim returns the
    free pages (Linux; elsewhere nothing happens)."""
    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def round_to_float16(m: LoadedModels) -> None:
    """Round every float parameter to float16 values (kept float32) so reference and float16 bundle agree exactly."""
    with torch.no_grad():
        for p in list(m.vae.parameters()) + list(m.var.parameters()):
            p.copy_(p.half().float())


def export_all(m: LoadedModels, out_dir: str, log=print, fp16: bool = False) -> Tuple[WeightStore, Origins]:
    """Every graph of the bundle into out_dir, weights in out_dir/weights.bin (float16 where exact when fp16);
    returns the store (with its regions) and the checkpoint tensors they were found among."""
    store = WeightStore(out_dir, fp16=fp16)
    origins = Origins(m, fp16)
    io, examples, facts = graph_io(m), example_inputs(m), initializer_facts(m)
    modules = graph_modules(m)
    for k, (role, module) in enumerate(modules.items()):
        log(f'exporting {role}.onnx (graph {k + 1} of {len(modules)})')
        export_graph(
            module,
            examples[role],
            io[role],
            os.path.join(out_dir, f'{role}.onnx'),
            store,
            precise_norms=role in PRECISE_NORM_ROLES,
            facts=facts[role],
            origins=origins,
        )
        release_freed_memory()
    log(f'weights.bin: {store.size} bytes stored, {store.referenced} bytes referenced by the graphs')
    return store, origins
