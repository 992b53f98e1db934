"""Image file -> model input tensor, the way the VAR models were fed (ToTensor, then x * 2 - 1)."""
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageOps


def load_rgb(path: str, image_size: int, background: Sequence[int] = (255, 255, 255)) -> np.ndarray:
    """RGB uint8 [S, S, 3]: EXIF-rotated, alpha composited over `background`, short side resized, centre crop."""
    with Image.open(path) as im:
        im.load()
        im = ImageOps.exif_transpose(im)
        if im.mode in ('RGBA', 'LA', 'PA') or (im.mode == 'P' and 'transparency' in im.info):
            im = im.convert('RGBA')
            bg = Image.new('RGBA', im.size, tuple(int(c) for c in background) + (255,))
            im = Image.alpha_composite(bg, im)
        im = im.convert('RGB')
        w, h = im.size
        if (w, h) != (image_size, image_size):
            s = image_size / min(w, h)
            im = im.resize((max(image_size, round(w * s)), max(image_size, round(h * s))), Image.LANCZOS)
            w, h = im.size
            left, top = (w - image_size) // 2, (h - image_size) // 2
            im = im.crop((left, top, left + image_size, top + image_size))
        return np.asarray(im, dtype=np.uint8).copy()


def rgb_to_input(rgb: np.ndarray, mean: float = 0.5, std: float = 0.5) -> torch.Tensor:
    """uint8 [S, S, 3] -> float32 [1, 3, S, S] = (pixel/255 - mean) / std."""
    # contiguous: convs on a permuted (channels-last) view take another kernel path, and f moves by ~1e-4
    x = torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0).contiguous().float().div(255)
    if mean == 0.5 and std == 0.5:
        return x.add(x).add(-1)  # bit-identical to the official x.add(x).add_(-1)
    return (x - mean) / std


def load_image_tensor(path: str, image_size: int, background: Sequence[int] = (255, 255, 255)) -> torch.Tensor:
    """Model input [1, 3, S, S] in [-1, 1] from an image file."""
    return rgb_to_input(load_rgb(path, image_size, background))
