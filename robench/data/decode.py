"""Decoding image files into one uint8 array, in worker processes.

Only numpy and Pillow are used here: the work is per-file Python overhead, so processes (not threads) are what
scale it, and workers forked from the caller need nothing imported beyond this module.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image

from robench.errors import RobenchError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".webp")
# Below this many files a pool costs more than it saves.
_MIN_FILES_FOR_POOL = 2_000


@dataclass(frozen=True)
class ResizeCrop:
    """Resize the shorter side to ``resize`` (bilinear, antialiased) then centre-crop ``crop`` x ``crop``.

    This is torchvision's ``Resize(resize)`` + ``CenterCrop(crop)`` on PIL images, RobustBench's ``Res256Crop224``.
    """

    resize: int = 256
    crop: int = 224

    def __call__(self, image: Image.Image) -> Image.Image:
        w, h = image.size
        if w <= h:
            new_w, new_h = self.resize, int(self.resize * h / w)
        else:
            new_w, new_h = int(self.resize * w / h), self.resize
        if (new_w, new_h) != (w, h):
            image = image.resize((new_w, new_h), Image.Resampling.BILINEAR)
        left = int(round((new_w - self.crop) / 2.0))
        top = int(round((new_h - self.crop) / 2.0))
        return image.crop((left, top, left + self.crop, top + self.crop))


def is_image_file(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def _decode_chunk(paths: list[str], size: tuple[int, int], transform: ResizeCrop | None) -> np.ndarray:
    out = np.empty((len(paths), size[0], size[1], 3), dtype=np.uint8)
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as image:
                image = image.convert("RGB")
                if transform is not None:
                    image = transform(image)
                array = np.asarray(image)
        except OSError as err:  # Pillow's messages ("image file is truncated") do not name the file
            raise ValueError(f"{path}: {err}") from None
        if array.shape[:2] != size:
            raise ValueError(f"{path} is {array.shape[1]}x{array.shape[0]}, expected {size[1]}x{size[0]}")
        out[i] = array
    return out


def decode_images(
    paths: list[str], size: tuple[int, int], transform: ResizeCrop | None = None, workers: int | None = None
) -> np.ndarray:
    """Decode ``paths`` (in order) to a uint8 array [N, 3, H, W]; a bad file raises :class:`RobenchError`."""
    workers = default_workers() if workers is None else workers
    out = np.empty((len(paths), size[0], size[1], 3), dtype=np.uint8)
    try:
        if workers <= 1 or len(paths) < _MIN_FILES_FOR_POOL:
            out[:] = _decode_chunk(paths, size, transform)
        else:
            step = max(256, min(4096, len(paths) // (workers * 4)))
            starts = range(0, len(paths), step)
            # fork is what torch's DataLoader uses on Linux; spawn elsewhere.
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method)) as pool:
                chunks = pool.map(_decode_chunk, [paths[s : s + step] for s in starts], [size] * len(starts),
                                  [transform] * len(starts))  # fmt: skip
                for start, chunk in zip(starts, chunks):
                    out[start : start + len(chunk)] = chunk
    except (OSError, ValueError) as err:
        raise RobenchError(
            f"cannot decode an image: {err}",
            hint="the file is damaged or has the wrong size; re-extract the data set or remove the file",
        ) from None
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))
