"""Infinity's scale schedules: per aspect-ratio template and pixel budget, the (t, h, w) of every scale.

A port of the table of the official `infinity/utils/dynamic_resolution.py`: each template ratio h/w has one list of
13 scales; a pixel budget takes its first 7 (0.06M), 10 (0.25M), 12 (0.60M) or 13 (1M) entries, and the image is
16 pixels per token of the last scale. The inverse ratios are the same lists with h and w swapped, keyed by
int(1 / r * 1000) / 1000 (0.8, 0.75, 0.666, ...). t is 1 for images (the official table carries video frame counts
that tools/run_infinity.py overrides with 1)."""
from typing import Dict, List, Tuple

VAE_STRIDE = 16
PIXEL_BUDGETS = {'0.06M': 7, '0.25M': 10, '0.60M': 12, '1M': 13}

# (h, w) of the 13 scales of each template ratio h/w >= 1.
_RATIO_TO_HWS = {
    1.000: [(1,1),(2,2),(4,4),(6,6),(8,8),(12,12),(16,16),(20,20),(24,24),(32,32),(40,40),(48,48),(64,64)],
    1.250: [(1,1),(2,2),(3,3),(5,4),(10,8),(15,12),(20,16),(25,20),(30,24),(35,28),(45,36),(55,44),(70,56)],
    1.333: [(1,1),(2,2),(4,3),(8,6),(12,9),(16,12),(20,15),(24,18),(28,21),(36,27),(48,36),(60,45),(72,54)],
    1.500: [(1,1),(2,2),(3,2),(6,4),(9,6),(15,10),(21,14),(27,18),(33,22),(39,26),(48,32),(63,42),(78,52)],
    1.750: [(1,1),(2,2),(3,3),(7,4),(11,6),(14,8),(21,12),(28,16),(35,20),(42,24),(56,32),(70,40),(84,48)],
    2.000: [(1,1),(2,2),(4,2),(6,3),(10,5),(16,8),(22,11),(30,15),(38,19),(46,23),(60,30),(74,37),(90,45)],
    2.500: [(1,1),(2,2),(5,2),(10,4),(15,6),(20,8),(25,10),(30,12),(40,16),(50,20),(65,26),(80,32),(100,40)],
    3.000: [(1,1),(2,2),(6,2),(9,3),(15,5),(21,7),(27,9),(36,12),(45,15),(54,18),(72,24),(90,30),(111,37)],
}  # fmt: skip


def _all_templates() -> Dict[float, List[Tuple[int, int]]]:
    out = {}
    for ratio, hws in _RATIO_TO_HWS.items():
        out[ratio] = hws
        if ratio != 1.0:
            out[int(1 / ratio * 1000) / 1000] = [(w, h) for h, w in hws]
    return out


RATIO_TEMPLATES = _all_templates()

Schedule = List[Tuple[int, int, int]]


def nearest_template(h_div_w: float) -> float:
    """The template ratio nearest to an image's h/w (the first of two equally near, as numpy's argmin)."""
    return min(RATIO_TEMPLATES, key=lambda r: abs(h_div_w - r))


def scale_schedule(h_div_w_template: float, pn: str) -> Schedule:
    """[(1, h, w)] of every scale for a template ratio and a pixel budget ('0.06M', '0.25M', '0.60M', '1M')."""
    if h_div_w_template not in RATIO_TEMPLATES:
        raise ValueError(f'h/w {h_div_w_template} is not a template ratio (one of {sorted(RATIO_TEMPLATES)})')
    if pn not in PIXEL_BUDGETS:
        raise ValueError(f'pixel budget {pn!r} is not one of {", ".join(PIXEL_BUDGETS)}')
    return [(1, h, w) for h, w in RATIO_TEMPLATES[h_div_w_template][: PIXEL_BUDGETS[pn]]]


def pixel_size(schedule: Schedule, patch: int = VAE_STRIDE) -> Tuple[int, int]:
    """(H, W) of the image: the last scale times the VAE's stride."""
    _, h, w = schedule[-1]
    return h * patch, w * patch


def begin_ends(schedule: Schedule) -> List[Tuple[int, int]]:
    """[(begin, end)] of every scale's tokens in the flattened sequence (each scale row-major over h, w)."""
    out, cur = [], 0
    for t, h, w in schedule:
        out.append((cur, cur + t * h * w))
        cur += t * h * w
    return out


def rope_schedule(schedule: Schedule) -> Schedule:
    """The 1M schedule of the template that schedule is a prefix of: the grid the official RoPE cache is built on."""
    found = None
    for hws in RATIO_TEMPLATES.values():  # the last match, as the official cache dict is overwritten in this order
        full = [(1, h, w) for h, w in hws]
        if [tuple(s) for s in schedule] == full[: len(schedule)]:
            found = full
    if found is not None:
        return found
    raise ValueError(f'scale schedule {schedule} is not a prefix of any template ratio\'s schedule')
