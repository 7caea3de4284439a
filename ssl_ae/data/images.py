"""Bring images of any mode and size to one shape: uint8 (C, H, W), C = 1 or 3, H = W = size."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


EXIF_ORIENTATION = 0x0112
TURNS = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
         4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
         6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}


def upright(img: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation says (phone photos). A damaged EXIF block, which
    Pillow's ``exif_transpose`` cannot rewrite, does not make the pixels unreadable: the
    orientation tag alone is read, or the image is kept as stored."""
    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # struct.error, TypeError, ... from rewriting the damaged block
        try:
            turn = TURNS.get(img.getexif().get(EXIF_ORIENTATION))
        except Exception:
            turn = None
        return img.transpose(turn) if turn is not None else img


def natural_channels(img: Image.Image) -> int:
    """1 for grey modes, 3 for everything else (RGB, RGBA, palette, CMYK, ...)."""
    if img.mode == "P":
        return 1 if _palette_is_grey(img) else 3
    return 1 if img.mode in GREY_MODES else 3


def _palette_is_grey(img: Image.Image) -> bool:
    palette = np.asarray(img.getpalette() or [0, 0, 0]).reshape(-1, 3)
    return bool((palette == palette[:, :1]).all())


def in_common_channels(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """uint8 (C, S, S) images, each read in its own channels, as views in one number of
    channels: grey if all are, else colour, the grey ones repeated over three channels (what
    reading them in colour gives)."""
    channels = max(a.shape[0] for a in arrays)
    return [np.broadcast_to(a, (channels, *a.shape[1:])) for a in arrays]


def pil_to_uint8(img: Image.Image, channels: int, size: int) -> np.ndarray:
    """A PIL image as a uint8 (channels, size, size) array.

    Transparency (RGBA, LA, a transparent colour of a palette, grey or RGB image) is composited
    onto black; 16- and 32-bit integer images are read as 0..65535, float images as 0..1; grey
    conversion uses PIL's ITU-R 601 luma; the image is resized (squashed, not cropped) to
    ``size`` x ``size`` with antialiased bilinear filtering.
    """
    if img.mode in ("P", "L", "RGB") and "transparency" in img.info:  # a transparent colour key
        img = img.convert("LA" if img.mode == "L" else "RGBA")
    elif img.mode == "P":
        img = img.convert("RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        img = Image.alpha_composite(black, rgba).convert("RGB")
    if img.mode.startswith("I;16") or img.mode in ("I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 1.0 if img.mode == "F" else 65535.0  # by mode, never by the image's own values
        img = Image.fromarray(np.clip(arr / top * 255 + 0.5, 0, 255).astype(np.uint8))
    if channels == 1 and img.mode not in ("1", "L"):
        img = img.convert("RGB")  # LAB, HSV, ... reach grey only through RGB
    img = img.convert("L" if channels == 1 else "RGB")
    if img.size != (size, size):
        img = img.resize((size, size), Image.BILINEAR)
    arr = np.asarray(img, dtype=np.uint8)
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)


def to_pil(image: Any) -> Image.Image:
    """A PIL image from a PIL image, an (H, W[, C]) numpy array or a (C, H, W) tensor.

    Floats must lie in [0, 1] (a normalised tensor is refused); 16-bit integers in [0, 65535];
    other integers in [0, 255].
    """
    if isinstance(image, Image.Image):
        return image
    given = tuple(image.shape) if hasattr(image, "shape") else np.shape(image)
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        if image.ndim == 3:
            image = image.permute(1, 2, 0)
        image = image.numpy()
    arr = np.asarray(image)
    if arr.dtype.kind == "f":
        if arr.size and (arr.min() < -0.01 or arr.max() > 1.01):
            raise ValueError(f"float pixels must lie in [0, 1], got {arr.min():.3g}.."
                             f"{arr.max():.3g}: give images before any Normalize (the package "
                             "standardises them itself)")
        arr = np.clip(arr * 255 + 0.5, 0, 255)
    elif arr.dtype == np.uint16:  # as a 16-bit image file is read
        arr = np.clip(arr / 65535 * 255 + 0.5, 0, 255)
    elif arr.size and (arr.min() < 0 or arr.max() > 255):
        raise ValueError(f"integer pixels must lie in 0..255 (16-bit: 0..65535), got "
                         f"{arr.min()}..{arr.max()}; give uint8 images, or floats in [0, 1]")
    arr = arr.astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ValueError(f"cannot read an image of shape {given}: expected an (H, W) or "
                         "(H, W, 1|3|4) array, or a (1|3|4, H, W) tensor")
    return Image.fromarray(arr)


def conform(images: torch.Tensor, channels: Optional[int], size: Optional[int],
            chunk: int = 4096) -> torch.Tensor:
    """A uint8 (N, C, H, W) batch with ``channels`` and ``size`` (None keeps what it has)."""
    n, c, h, w = images.shape
    channels, size = channels or c, size or h
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if (channels, size, size) == (c, h, w):
        return images
    out = torch.empty((n, channels, size, size), dtype=torch.uint8)
    luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    for start in range(0, n, chunk):
        x = images[start:start + chunk].float()
        if channels == 1 and c == 3:
            x = (x * luma).sum(1, keepdim=True)
        elif channels == 3 and c == 1:
            x = x.repeat(1, 3, 1, 1)
        if (h, w) != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                              align_corners=False)
        out[start:start + chunk] = x.round_().clamp_(0, 255).to(torch.uint8)
    return out
