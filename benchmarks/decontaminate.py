"""Keeping benchmark test images out of training pools: exact and perceptual image fingerprints.

An image is fingerprinted twice: ``pixel_sha256`` hashes its decoded RGB pixels and size (the same
picture stored as PNG or as another container hashes alike), and ``dhash`` is a 64-bit difference
hash (grey 9 x 8 thumbnail, one bit per horizontally adjacent pair), which a re-encoded copy (JPEG at
another quality, a resize) keeps within a few bits. :class:`ImageIndex` holds the fingerprints of
every test image of the benchmarks a run evaluates on and answers, for a training image, which
benchmark holds it (``image_exact``) or a copy within ``max_distance`` bits (``image_near``). Near
matches are looked up through four 16-bit bands of the hash: two hashes within 3 bits share a band
exactly (pigeonhole), so up to 3 bits every match is found; a wider ``max_distance`` also finds the
copies that share a band.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

BANDS = 4
"""16-bit bands of the 64-bit hash used to find near-duplicate candidates."""


def rgb(image: Any) -> Any:
    """``image`` (a PIL image) as RGB."""
    return image if image.mode == "RGB" else image.convert("RGB")


def pixel_sha256(image: Any) -> str:
    """SHA-256 of the decoded RGB pixels and size: equal for the same picture in any lossless container."""
    picture = rgb(image)
    digest = hashlib.sha256(f"{picture.width}x{picture.height}:".encode())
    digest.update(picture.tobytes())
    return digest.hexdigest()


def dhash(image: Any) -> int:
    """64-bit difference hash: grey, 9 x 8 (box filter), bit = left pixel brighter than its right neighbour."""
    from PIL import Image

    small = rgb(image).convert("L").resize((9, 8), Image.Resampling.BOX)
    pixels = small.tobytes()
    bits = 0
    for row in range(8):
        for col in range(8):
            left, right = pixels[row * 9 + col], pixels[row * 9 + col + 1]
            bits = (bits << 1) | (1 if left > right else 0)
    return bits


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def _bands(value: int) -> list[tuple[int, int]]:
    return [(i, (value >> (16 * i)) & 0xFFFF) for i in range(BANDS)]


@dataclass
class ImageIndex:
    """Fingerprints of benchmark test images: which benchmark holds an image or a near copy of it."""

    max_distance: int = 3
    """Largest Hamming distance of two difference hashes that counts as the same picture."""
    exact: dict[str, str] = field(default_factory=dict)
    """pixel SHA-256 -> benchmark."""
    hashes: dict[int, str] = field(default_factory=dict)
    """difference hash -> benchmark."""
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    """Images indexed per benchmark."""
    _bands: dict[tuple[int, int], list[int]] = field(default_factory=lambda: defaultdict(list))

    def add(self, image: Any, benchmark: str) -> None:
        self.exact.setdefault(pixel_sha256(image), benchmark)
        value = dhash(image)
        if value not in self.hashes:
            self.hashes[value] = benchmark
            for band in _bands(value):
                self._bands[band].append(value)
        self.counts[benchmark] += 1

    def match(self, image: Any) -> tuple[str, str] | None:
        """``(reason, benchmark)`` when a benchmark holds ``image`` (``image_exact``) or a copy of it
        (``image_near``: difference hashes within ``max_distance`` bits); None otherwise."""
        held = self.exact.get(pixel_sha256(image))
        if held is not None:
            return "image_exact", held
        value = dhash(image)
        if value in self.hashes:
            return "image_near", self.hashes[value]
        seen: set[int] = set()
        for band in _bands(value):
            for other in self._bands.get(band, ()):
                if other not in seen and hamming(value, other) <= self.max_distance:
                    return "image_near", self.hashes[other]
                seen.add(other)
        return None


def build_index(
    benchmarks: Iterable[tuple[str, Iterable[Any]]],
    max_distance: int,
    progress: Callable[[str], None] | None = None,
) -> ImageIndex:
    """An :class:`ImageIndex` of ``(benchmark name, its test images)`` pairs."""
    index = ImageIndex(max_distance=max_distance)
    for name, images in benchmarks:
        for image in images:
            index.add(image, name)
        if progress:
            progress(f"decontamination: {index.counts[name]} test images of {name} indexed")
    return index
