"""varscope.json of an Infinity bundle (`"family": "infinity"`): what an engine needs to run its graphs, laid out as
the VAR manifest (bundle/bundle_spec.py) where the two agree."""
from typing import Dict, List, Sequence

from .. import EXPORTER_VERSION
from ..bundle.bundle_spec import MANIFEST_VERSION, tensor_specs
from .bsq_vae import BSQVAE
from .model import Infinity
from .schedules import Schedule, begin_ends, pixel_size

FAMILY = 'infinity'
UNCONDITIONAL_TEXT_FILE = 'unconditionalText.bin'
# scripts/infer.sh's sampling settings (the official release's defaults); CFG on the logits.
SAMPLING = {'cfg': 4.0, 'tau': 0.5, 'topK': 900, 'topP': 0.97, 'cfgInsertionLayer': 0}
# What the float32 text attention of the graphs costs against the official bfloat16 one, measured by
# python/tests/test_infinity_reference.py and test_infinity_onnx.py on the fixtures.
TEXT_ATTENTION_NOTE = (
    'The graphs keep the text attention (text pool and cross-attention) in float32. The official code casts its q, k, '
    'v to bfloat16 and the output back: against float32 that moves teacher-forced logits by up to 2.7e-3 (fixture A) '
    'and 3.5e-3 (B), flips the argmax of 2 of A\'s 16672 teacher-forced bits and 1 of 8336 bits of A\'s greedy CFG '
    'generation (B: none of 21280).'
)


def schedule_id(h_div_w: float, pn: str) -> str:
    """A schedule's name in file names and the manifest: 'hw1.000-0.06M'."""
    return f'hw{h_div_w:.3f}-{pn}'


def schedule_entry(h_div_w: float, pn: str, schedule: Schedule, graphs: Dict[str, dict]) -> dict:
    """One schedule of the bundle: its scales (t, h, w), token ranges, image size and graphs."""
    H, W = pixel_size(schedule)
    return {
        'id': schedule_id(h_div_w, pn),
        'hDivW': h_div_w,
        'pn': pn,
        'scales': [list(s) for s in schedule],
        'beginEnds': [list(be) for be in begin_ends(schedule)],
        'tokenCount': begin_ends(schedule)[-1][1],
        'pixelSize': [H, W],
        'latentSize': list(schedule[-1][1:]),
        'graphs': graphs,
    }


def graph_entries(files: Dict[str, str], io: Dict[str, tuple]) -> Dict[str, dict]:
    """{graph: {file, inputs, outputs}} of the graphs in files (name -> file name)."""
    return {
        name: {'file': file, 'inputs': tensor_specs(io[name][0]), 'outputs': tensor_specs(io[name][1])}
        for name, file in files.items()
    }


def build_manifest(
    vae: BSQVAE,
    model: Infinity,
    schedules: List[dict],
    bundle_id: str,
    name: str,
    sources: Sequence[dict],
) -> dict:
    """varscope.json of an Infinity bundle (schedules: schedule_entry's, files added by the caller)."""
    c, v = model.cfg, vae.cfg
    return {
        'format': 'varscope-bundle',
        'version': MANIFEST_VERSION,
        'family': FAMILY,
        'id': bundle_id,
        'name': name,
        'bits': c.d_model,
        'vae': {
            'codebookDim': v.codebook_dim,
            'downsample': v.patch_size,
            'ch': v.base_ch,
            'chMult': list(v.ch_mult),
            'numResBlocks': v.num_res_blocks,
            'quantizer': 'multi-scale BSQ: bit j = (latent channel j > 0), code = (2 bit - 1) / sqrt(d)',
        },
        'infinity': {
            'depth': c.depth,
            'embedDim': c.embed_dim,
            'numHeads': c.num_heads,
            'headDim': c.embed_dim // c.num_heads,
            'blockChunks': c.block_chunks,
            'mlpHidden': c.mlp_hidden,
            'textPoolHeads': c.text_pool_heads,
            'addLvlEmbeddingOnlyFirstBlock': bool(c.add_lvl_embeding_only_first_block),
            'rope2dNormalizedByHw': c.rope2d_normalized_by_hw,
        },
        'text': {
            'featureWidth': c.text_channels,
            'maxLength': c.text_maxlen,
            'features': 'T5 encoder last_hidden_state per caption token (Flan-T5 for the released models), float32',
            'packing': 'textFeatures [N, featureWidth]: the captions one after the other, no padding; textOffsets '
            'int64 [B + 1]: caption b is rows textOffsets[b] .. textOffsets[b + 1] (cu_seqlens); every caption >= 1 token',
            'attention': 'float32',
            'note': TEXT_ATTENTION_NOTE,
        },
        'unconditionalText': {
            'file': UNCONDITIONAL_TEXT_FILE,
            'dtype': 'float32',
            'dims': [c.text_maxlen, c.text_channels],
            'use': 'CFG: the unconditional row of a caption of n tokens takes the first n rows as its features, '
            'packed after every conditional caption',
        },
        'normalization': {'mean': 0.5, 'std': 0.5},
        'image': {
            'input': 'RGB, (x / 255 - 0.5) / 0.5, [B, 3, H, W]',
            'decoderOutput': 'RGB in [-1, 1] (bsqDecoder.image)',
            'officialOutput': 'BGR uint8 [B, H, W, 3]: ((x + 1) / 2 * 255) truncated, channels reversed (for cv2)',
        },
        'logits': 'logits [B, l, bits, 2]: index 0 is bit value 0, index 1 bit value 1',
        'stepGraph': 'infinityStep: the batch is the conditional rows then, for CFG, the unconditional ones; it returns '
        'this scale\'s keys and values only (append them on axis 3); 1 / tau, CFG on the logits and sampling are the '
        'caller\'s; cfgLayer = depth + n mixes the hidden state for cfg_insertion_layer n < 0, else -1',
        'sampling': dict(SAMPLING),
        'schedules': schedules,
        'provenance': {
            'exporter': f'varscope.infinity.export {EXPORTER_VERSION}',
            'exportedAt': '',
            'sources': list(sources),
        },
    }
