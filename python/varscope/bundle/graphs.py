"""One nn.Module per bundle graph role, written for ONNX export (fixed interpolation matrices, no Python control
flow on tensor values). Input / output names and shapes follow src/shared/manifest.ts."""
import contextlib
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .interp import apply_separable
from ..model.var_model import VAR, SelfAttention, attention_weights
from ..model.vqvae import VQVAE

_folded = [False]  # inside folded_weights()


@contextlib.contextmanager
def folded_weights():
    """Graphs built and exported inside are those of exporter 0.1.0, where torch.onnx folded weights into new ones:
    the concatenated qkv biases, the codebook's squares and a stacked copy of the Phi weights. Only
    from_bundle uses it, to find the weights of a bundle of that version; an export never does (a bundle's weights
    must be copies of the checkpoint's: weight_map.py)."""
    _folded[0], SelfAttention.fold_qkv_bias = True, True
    try:
        yield
    finally:
        _folded[0], SelfAttention.fold_qkv_bias = False, False


class EncoderGraph(nn.Module):
    """image [B,3,H,W] -> f [B,C,h,w]."""

    def __init__(self, vae: VQVAE):
        super().__init__()
        self.vae = vae

    def forward(self, image):
        return self.vae.img_to_f(image)


class DecoderGraph(nn.Module):
    """fHat [B,C,h,w] -> image [B,3,H,W] in [-1, 1]."""

    def __init__(self, vae: VQVAE):
        super().__init__()
        self.vae = vae

    def forward(self, fHat):
        return self.vae.fhat_to_img(fHat)


def phi_apply(h, weight, bias, ratio: float):
    """Phi(h) = (1 - ratio) h + ratio conv3x3(h) with given weights."""
    return h.mul(1 - ratio) + F.conv2d(h, weight, bias, padding=1).mul(ratio)


class QuantizerGraph(nn.Module):
    """f [1,C,h,w] -> tokens [1,L], fHat [SN,C,h,w], varInput [1,L-firstL,C], quantDist [L,2]."""

    def __init__(self, vae: VQVAE, ups: Sequence[torch.Tensor], downs: Sequence[torch.Tensor]):
        super().__init__()
        q = vae.quantize
        self.q, self.patch_nums = q, q.patch_nums
        for k, (u, d) in enumerate(zip(ups, downs)):
            self.register_buffer(f'up{k}', u.float())
            self.register_buffer(f'down{k}', d.float())

    def forward(self, f):
        SN, C = len(self.patch_nums), f.shape[1]
        codebook = self.q.embedding.weight  # [V, C]
        # NOTE: abs() (exact under the square) keeps torch.onnx from folding the squares into a weight no checkpoint
        # key holds; onnxruntime computes them once when the graph opens.
        e2 = (codebook if _folded[0] else codebook.abs()).square().sum(dim=1)  # [V]
        f_rest, f_hat = f, torch.zeros_like(f)
        tokens, fhats, dists, nexts = [], [], [], []
        for si, pn in enumerate(self.patch_nums):
            rest = apply_separable(getattr(self, f'down{si}'), f_rest) if si != SN - 1 else f_rest
            z = rest.permute(0, 2, 3, 1).reshape(pn * pn, C)  # [pn*pn, C]
            d = z.square().sum(dim=1, keepdim=True) + e2 - 2 * (z @ codebook.T)  # [pn*pn, V]
            idx = torch.argmin(d, dim=1)
            dists.append(torch.topk(d, k=2, dim=1, largest=False).values.clamp_min(0))
            h = codebook[idx].reshape(1, pn, pn, C).permute(0, 3, 1, 2)  # [1, C, pn, pn]
            if si != SN - 1:
                h = apply_separable(getattr(self, f'up{si}'), h)  # [1, C, h, w]
            h = self.q.phi(si)(h)
            f_hat = f_hat + h
            f_rest = f_rest - h
            tokens.append(idx.reshape(1, pn * pn))
            fhats.append(f_hat)
            if si != SN - 1:
                nxt = apply_separable(getattr(self, f'down{si + 1}'), f_hat)  # [1, C, pn', pn']
                nexts.append(nxt.reshape(1, C, -1).transpose(1, 2))
        return torch.cat(tokens, 1), torch.cat(fhats, 0), torch.cat(nexts, 1), torch.cat(dists, 0)


class LatentStepGraph(nn.Module):
    """fHat [1,C,h,w], tokens [1,pn²], up [h,pn], down [pnNext,h], phiIndex [] -> fHatNext, nextInput [1,pnNext²,C]."""

    def __init__(self, vae: VQVAE):
        super().__init__()
        q = vae.quantize
        self.embedding = q.embedding
        self.phis = nn.ModuleList(q.quant_resi.qresi_ls)  # each an nn.Conv2d
        self.ratio = q.quant_resi.ratio if self.phis else 0.0
        self.stacked = _folded[0] and bool(self.phis)
        if self.stacked:  # exporter 0.1.0's graph (folded_weights)
            self.register_buffer('phi_w', torch.stack([p.weight for p in self.phis]).detach().clone())  # [K,C,C,3,3]
            self.register_buffer('phi_b', torch.stack([p.bias for p in self.phis]).detach().clone())  # [K, C]

    def phi_weights(self, phiIndex):
        """The weight [C, C, 3, 3] and bias [C] of Phi number phiIndex, picked in the graph by a chain of Where.

        NOTE: not a stacked copy of the Phi weights indexed by phiIndex: torch.onnx folds the stack into a new weight
        that no checkpoint key holds (a bundle's weights must be copies of the checkpoint's)."""
        if self.stacked:
            k = phiIndex.reshape(1)  # NOTE: indexing by a 0-d tensor traces to a Gather that keeps the axis
            return self.phi_w.index_select(0, k).squeeze(0), self.phi_b.index_select(0, k).squeeze(0)
        w, b = self.phis[0].weight, self.phis[0].bias
        for k, p in enumerate(self.phis[1:], start=1):
            w, b = torch.where(phiIndex == k, p.weight, w), torch.where(phiIndex == k, p.bias, b)
        return w, b

    def forward(self, fHat, tokens, up, down, phiIndex):
        C, pn = fHat.shape[1], up.shape[1]
        h = self.embedding(tokens[0]).transpose(0, 1).reshape(1, C, pn, pn)  # [1, C, pn, pn]
        h = up @ h @ up.transpose(0, 1)  # [1, C, h, w]
        if self.ratio:
            h = phi_apply(h, *self.phi_weights(phiIndex), self.ratio)
        f_next = fHat + h
        nxt = down @ f_next @ down.transpose(0, 1)  # [1, C, pn', pn']
        return f_next, nxt.reshape(1, C, -1).transpose(1, 2)


class TransformerGraph(nn.Module):
    """classLabel [B], varInput [B,L-1,C] -> teacher-forced logits [B,L,V] (block-causal mask)."""

    def __init__(self, var: VAR):
        super().__init__()
        self.var = var

    def forward(self, classLabel, varInput):
        var = self.var
        x, cond_BD = var.teacher_input(classLabel, varInput)
        cond = var.shared_ada_lin(cond_BD)
        for b in var.blocks:
            x, _, _, _ = b(x, cond, var.attn_bias_for_masking)
        return var.get_logits(x, cond_BD)


class AttentionGraph(nn.Module):
    """classLabel [B], varInput [B,L-1,C], attnLayer [] -> attn [B,nh,L,L]: softmax weights of block attnLayer in the
    teacher-forced pass (no head: the weights need only the blocks)."""

    def __init__(self, var: VAR):
        super().__init__()
        self.var = var

    def forward(self, classLabel, varInput, attnLayer):
        var = self.var
        x, cond_BD = var.teacher_input(classLabel, varInput)
        cond = var.shared_ada_lin(cond_BD)
        q_kept = k_kept = None
        for i, b in enumerate(var.blocks):
            x, k, _, q = b(x, cond, var.attn_bias_for_masking)
            # Where chains keep block attnLayer's queries and keys ([B,nh,L,hd] each) and the weights are computed
            # once at the end: with a chain over the weights themselves, onnxruntime held every block's [B,nh,L,L].
            q_kept = q if q_kept is None else torch.where(attnLayer == i, q, q_kept)
            k_kept = k if k_kept is None else torch.where(attnLayer == i, k, k_kept)
        return attention_weights(q_kept, k_kept, var.attn_bias_for_masking)


class TransformerStepGraph(nn.Module):
    """KV-cached step: classLabel [B], x [B,l,Cvae], scaleIndex [], pastKey/pastValue [Lp,depth,B,nh,hd]
    -> logits [B,l,V], scaleKey/scaleValue [l,depth,B,nh,hd] (this scale's keys and values),
    presentKey/presentValue [Lp+l,depth,B,nh,hd] (the cache with them).

    Position first: the cache of the first Lp positions is the start of one buffer sized for every scale, so the
    engine passes it as a view and appends each scale's keys behind it. presentKey/presentValue are for a cache kept
    on a GPU; onnxruntime computes only the outputs a run asks for."""

    def __init__(self, var: VAR):
        super().__init__()
        self.var = var

    def forward(self, classLabel, x, scaleIndex, pastKey, pastValue):
        var = self.var
        cond_BD = var.class_emb(classLabel)  # [B, D]
        sos = cond_BD.unsqueeze(1) + var.pos_start  # [B, 1, D] (first_l = 1)
        Lp, l = pastKey.shape[0], x.shape[1]
        h = torch.where(scaleIndex == 0, sos, var.word_embed(x)) + var.lvl_pos()[:, Lp : Lp + l]
        cond = var.shared_ada_lin(cond_BD)
        ks, vs = [], []
        for i, b in enumerate(var.blocks):
            # [Lp, B, nh, hd] -> [B, nh, Lp, hd]; k, v come back [B, nh, Lp+l, hd]
            h, k, v, _ = b(h, cond, None, pastKey[:, i].permute(1, 2, 0, 3), pastValue[:, i].permute(1, 2, 0, 3))
            ks.append(k[:, :, Lp:])
            vs.append(v[:, :, Lp:])
        scaleKey = torch.stack(ks).permute(3, 0, 1, 2, 4)  # [depth, B, nh, l, hd] -> [l, depth, B, nh, hd]
        scaleValue = torch.stack(vs).permute(3, 0, 1, 2, 4)
        presentKey, presentValue = torch.cat((pastKey, scaleKey)), torch.cat((pastValue, scaleValue))
        return var.get_logits(h, cond_BD), scaleKey, scaleValue, presentKey, presentValue
