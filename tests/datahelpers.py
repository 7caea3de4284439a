"""Small generated image folders for the data tests."""
from pathlib import Path

import numpy as np
from PIL import Image


def write_png(path: Path, value: int, size: int = 8, mode: str = "L") -> Path:
    """An image whose pixels all equal ``value`` (per channel for RGB)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (size, size) if mode == "L" else (size, size, 3)
    Image.fromarray(np.full(shape, value, dtype=np.uint8), mode).save(path)
    return path


def class_folder(root: Path, counts: dict[str, int], size: int = 8, offset: int = 0) -> Path:
    """``root/<class>/<i>.png`` with ``counts[class]`` images; the pixel value ``offset + 10 *
    class + i`` encodes both (every image distinct while classes have at most 10 images; give
    folders that must not share images different offsets)."""
    for c, (name, n) in enumerate(sorted(counts.items())):
        for i in range(n):
            write_png(root / name / f"{i:03d}.png", offset + 10 * c + i, size)
    return root
