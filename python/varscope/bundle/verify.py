"""Self-verification of an exported bundle: PyTorch reference outputs on a probe image, written as .npy cases and
run through the ONNX graphs by tools/verify_bundle.js (onnxruntime-node)."""
import json
import os
import subprocess
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .. import ROOT
from .checkpoint import LoadedModels
from .interp import down_matrices, up_matrices

TOKEN_TOL, FLOAT_TOL, IMAGE_TOL = 0.0, 5e-5, 1e-3
TOOLS = os.path.join(ROOT, 'tools')
VERIFY_JS = os.path.join(TOOLS, 'verify_bundle.js')


def probe_image(size: int) -> np.ndarray:
    """A deterministic RGB uint8 [S, S, 3] test image: gradients, a disc, stripes and hashed noise."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) / max(size - 1, 1)
    r = 0.5 + 0.5 * np.sin(6.0 * x + 2.0 * y)
    g = np.clip(1.2 * y - 0.1, 0, 1)
    b = 0.5 + 0.5 * np.cos(9.0 * (x - 0.5) * (y - 0.3))
    disc = ((x - 0.62) ** 2 + (y - 0.38) ** 2) < 0.04
    stripes = (np.floor(x * 24) % 2 == 0) & (y > 0.7)
    rgb = np.stack([r, g, b], axis=-1)
    rgb[disc] = [0.95, 0.85, 0.2]
    rgb[stripes] *= 0.35
    ix, iy = np.mgrid[0:size, 0:size]
    noise = ((ix * 73856093 ^ iy * 19349663) % 97) / 97.0 - 0.5
    rgb += 0.06 * noise[..., None]
    return (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)


def tolerance(key: str) -> float:
    """Allowed max abs diff of one verification key ('<case>.<output>')."""
    if key.endswith('.tokens'):
        return TOKEN_TOL
    if key.startswith('decoder'):
        return IMAGE_TOL
    return FLOAT_TOL


class CaseWriter:
    """Collects (graph, inputs, expected outputs) cases as .npy files plus cases.json."""

    def __init__(self, directory: str):
        self.dir, self.cases = directory, []

    def _save(self, name: str, t) -> str:
        """A tensor saved as <name>.npy (uint8 kept, other integers int64, the rest float32); a str is the file of an
        earlier case's saved output, passed on as it is."""
        if isinstance(t, str):
            return t
        arr = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
        kind = np.uint8 if arr.dtype == np.uint8 else np.int64 if arr.dtype.kind in 'iu' else np.float32
        np.save(os.path.join(self.dir, name + '.npy'), np.ascontiguousarray(arr.astype(kind)))
        return name + '.npy'

    def add(
        self,
        name: str,
        graph: str,
        inputs: Dict[str, object],
        outputs: Dict[str, object],
        save: Optional[Dict[str, str]] = None,
    ) -> None:
        """One case; `save` names outputs that verify_bundle.js writes to files a later case may take as inputs."""
        case = {
            'name': name,
            'graph': graph,
            'inputs': {k: self._save(f'{name}.in.{k}', v) for k, v in inputs.items()},
            'outputs': {k: self._save(f'{name}.out.{k}', v) for k, v in outputs.items()},
        }
        if save:
            case['save'] = dict(save)
        self.cases.append(case)

    def close(self) -> None:
        with open(os.path.join(self.dir, 'cases.json'), 'w') as f:
            json.dump(self.cases, f, indent=1)


@torch.no_grad()
def write_cases(m: LoadedModels, image: torch.Tensor, directory: str, class_label: int) -> None:
    """Reference inputs / outputs of every graph for the probe image [1, 3, H, W]."""
    vae, var, q = m.vae, m.var, m.vae.quantize
    pns, SN, C = var.patch_nums, len(var.patch_nums), var.Cvae
    ups, downs = up_matrices(pns), down_matrices(pns)
    w = CaseWriter(directory)
    batch = torch.cat([image, image.flip(-1)], dim=0)  # B = 2 exercises the dynamic batch
    w.add('encoder', 'encoder', {'image': batch}, {'f': vae.img_to_f(batch)})
    f = vae.img_to_f(image)
    res = q.quantize(f)
    var_input = q.idxBl_to_var_input(res.idx_Bl)  # [1, L-1, C]
    w.add(
        'quantizer',
        'quantizer',
        {'f': f},
        {
            'tokens': torch.cat(res.idx_Bl, 1),
            'fHat': torch.cat(res.f_hat, 0),
            'varInput': var_input,
            'quantDist': torch.cat([d[0] for d in res.dist2], 0),
        },
    )
    picks = sorted({0, SN // 2, SN - 1})
    fh = torch.cat([res.f_hat[k] for k in picks], 0)
    w.add('decoder', 'decoder', {'fHat': fh}, {'image': vae.fhat_to_img(fh)})
    phis = q.phi_indices()
    h = pns[-1]
    for si in range(SN):
        prev = res.f_hat[si - 1] if si else torch.zeros_like(f)
        nxt_pn = pns[si + 1] if si != SN - 1 else 1
        down = downs[si + 1] if si != SN - 1 else torch.full((1, h), 1.0 / h)
        nxt = F.interpolate(res.f_hat[si], size=(nxt_pn, nxt_pn), mode='area').view(1, C, -1).transpose(1, 2)
        w.add(
            f'latentStep{si}',
            'latentStep',
            {'fHat': prev, 'tokens': res.idx_Bl[si], 'up': ups[si], 'down': down, 'phiIndex': torch.tensor(phis[si])},
            {'fHatNext': res.f_hat[si], 'nextInput': nxt},
        )
    labels = torch.tensor([class_label, var.num_classes])  # CFG pair: class and null class
    pair = var_input.repeat(2, 1, 1)
    w.add('transformer', 'transformer', {'classLabel': labels, 'varInput': pair}, {'logits': var(labels, pair)})
    # the attention weights at batch 1, as the engine asks for them: [1, nh, L, L] is 0.72 GB at d36-s
    _, attn = var(labels[:1], var_input, attn_block=var.depth - 1)
    w.add(
        'attention',
        'attention',
        {'classLabel': labels[:1], 'varInput': var_input, 'attnLayer': torch.tensor(var.depth - 1)},
        {'attn': attn},
    )
    cond = var.class_emb(labels)
    nh, hd = var.num_heads, var.C // var.num_heads
    past_k = past_v = None
    steps = sorted({0, 1, SN // 2, SN - 1})
    for si in range(SN):
        bg, ed = var.begin_ends[si]
        x = (
            torch.zeros(2, var.first_l, C)
            if si == 0
            else var_input[:, bg - var.first_l : ed - var.first_l].repeat(2, 1, 1)
        )
        out, ks, vs, _ = var.run_blocks(var.step_input(si, cond, x), cond, None, past_k, past_v)
        if si in steps:
            # The last scale's case runs the conditional row alone (batch 1; the other cases keep the CFG pair) and
            # checks this scale's keys and values only: at d36-s the whole cache is 1.5 GB per row each way, and the
            # graph, its caller's copy and the reference would each hold it.
            r = 1 if si == SN - 1 else 2
            cache = lambda t: t.permute(3, 0, 1, 2, 4)[:, :, :r]  # [depth, B, nh, Lp, hd] -> [Lp, depth, r, nh, hd]
            past = lambda p: cache(torch.stack(p)) if p else torch.zeros(0, var.depth, r, nh, hd)
            k_all, v_all = cache(torch.stack(ks)), cache(torch.stack(vs))
            expected = {'logits': out[:r], 'scaleKey': k_all[bg:], 'scaleValue': v_all[bg:]}
            if si != SN - 1:
                expected.update(presentKey=k_all, presentValue=v_all)
            w.add(
                f'transformerStep{si}',
                'transformerStep',
                {
                    'classLabel': labels[:r],
                    'x': x[:r],
                    'scaleIndex': torch.tensor(si),
                    'pastKey': past(past_k),
                    'pastValue': past(past_v),
                },
                expected,
            )
        past_k, past_v = ks, vs
    w.close()


def run_verifier(bundle_dir: str, cases_dir: str) -> Dict[str, float]:
    """Run tools/verify_bundle.js; max abs diff per '<case>.<output>'."""
    node = os.environ.get('VARSCOPE_NODE') or 'node'  # the editor's own Node where `node` is not on PATH
    proc = subprocess.run([node, VERIFY_JS, bundle_dir, cases_dir], capture_output=True, text=True, cwd=TOOLS)
    if proc.returncode != 0:
        raise RuntimeError(f'verify_bundle.js failed ({proc.returncode}):\n{proc.stderr.strip()}')
    return {k: float(v) for k, v in json.loads(proc.stdout.strip().splitlines()[-1]).items()}


def failures(diffs: Dict[str, float]) -> List[Tuple[str, float, float]]:
    """(key, diff, tolerance) of every output outside its tolerance."""
    return [(k, v, tolerance(k)) for k, v in diffs.items() if not v <= tolerance(k)]


def summarize(diffs: Dict[str, float]) -> Dict[str, float]:
    """Worst diff per graph output name (e.g. 'latentStep.fHatNext'), for provenance.verification."""
    out: Dict[str, float] = {}
    for k, v in diffs.items():
        case, name = k.rsplit('.', 1)
        key = f'{case.rstrip("0123456789")}.{name}'
        out[key] = max(out.get(key, 0.0), v)
    return out
