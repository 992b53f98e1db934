"""2D rotary position embedding of Infinity's self-attention, one grid per scale schedule.

Head dim c; half = c / 2 channels rotate by the row and half by the column. A cos/sin table over 128 x 128 grid
positions holds angle pos * inv_freq_i, inv_freq_i = 1 / 10000^(2i / half) for i < half / 2, rows first then
columns. With rope2d_normalized_by_hw = 2 a token at (i, j) of scale (h, w) takes grid position
(round(i H1 / h), round(j W1 / w)), where (H1, W1) is the last scale of the ratio's 1M schedule: every scale spans the
same grid, so coarse tokens sit where their fine counterparts do. With 0 it takes (i, j)."""
import torch

from .schedules import Schedule, rope_schedule

GRID = 2048 // 16  # positions per axis of the official table


def rope2d_table(head_dim: int, schedule: Schedule, normalized_by_hw: int, base: float = 10000.0) -> torch.Tensor:
    """cos/sin [2, L, head_dim / 2] for every token of schedule, scales in order, each row-major."""
    half = head_dim // 2
    inv_freq = 1.0 / (base ** (torch.arange(0, half, 2, dtype=torch.int64).float() / half))  # [half / 2]
    _, H1, W1 = rope_schedule(schedule)[-1]
    rows, cols = [], []
    for _, ph, pw in schedule:
        if normalized_by_hw == 2:  # float32 products, rounded half to even, as the official indices
            r = (torch.arange(ph) * (H1 / ph)).round().long()
            c = (torch.arange(pw) * (W1 / pw)).round().long()
        else:
            r, c = torch.arange(ph), torch.arange(pw)
        rows.append(r.view(ph, 1).expand(ph, pw).reshape(-1))
        cols.append(c.view(1, pw).expand(ph, pw).reshape(-1))
    rows, cols = torch.cat(rows).float(), torch.cat(cols).float()
    if int(rows.max()) >= GRID or int(cols.max()) >= GRID:
        raise ValueError(f'scale schedule {schedule} reaches beyond the {GRID} x {GRID} RoPE grid')
    angles = torch.cat((torch.outer(rows, inv_freq), torch.outer(cols, inv_freq)), dim=-1)  # [L, half]
    return torch.stack((angles.cos(), angles.sin()))


def apply_rope2d(x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Rotates x [B, H, l, c] by table [2, l, c / 2]: channel pairs (2m, 2m + 1) by angle m (interleaved pairs)."""
    cos, sin = table[0], table[1]
    pairs = x.reshape(*x.shape[:-1], -1, 2)
    x0, x1 = pairs[..., 0], pairs[..., 1]
    return torch.stack((cos * x0 - sin * x1, sin * x0 + cos * x1), dim=-1).reshape(x.shape)
