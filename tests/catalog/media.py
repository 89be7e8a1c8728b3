"""Test media, generated: varied photo-like JPEGs, text files, and broken files."""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageDraw

WORDS = [
    "harbour",
    "light",
    "morning",
    "tide",
    "rope",
    "gull",
    "salt",
    "boat",
    "pier",
    "crane",
    "net",
    "fisher",
    "wave",
    "stone",
    "bell",
    "mist",
    "shore",
    "lantern",
    "north",
    "wind",
    "cliff",
    "sand",
    "shell",
    "anchor",
    "sail",
    "chart",
    "compass",
    "island",
    "river",
    "field",
    "orchard",
    "meadow",
]


def photo(path: Path, seed: int, size: tuple[int, int] = (640, 480), *, exif_date: str | None = None) -> Path:
    rng = random.Random(seed)
    image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))  # type: ignore[arg-type]
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        w, h = rng.randrange(20, size[0] // 2), rng.randrange(20, size[1] // 2)
        colour = tuple(rng.randrange(256) for _ in range(3))
        if rng.random() < 0.5:
            draw.ellipse((x, y, x + w, y + h), fill=colour)  # type: ignore[arg-type]
        else:
            draw.rectangle((x, y, x + w, y + h), fill=colour)  # type: ignore[arg-type]
    exif = Image.Exif()
    if exif_date:
        exif[0x8769] = {0x9003: exif_date}  # Exif IFD: DateTimeOriginal
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", quality=85, exif=exif)
    return path


def essay(path: Path, seed: int, words: int = 300) -> Path:
    rng = random.Random(seed)
    text = " ".join(rng.choice(WORDS) for _ in range(words))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")
    return path
