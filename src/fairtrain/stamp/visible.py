"""Visible watermark: the creator's text or logo, composited at a position and opacity they choose.

Applied after the invisible mark (which it barely disturbs: it covers a corner, or a faint tile) and before
the metadata, so the protected file's C2PA hash covers it.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from fairtrain.errors import InvalidInput
from fairtrain.stamp.models import POSITIONS

__all__ = ["POSITIONS", "VisibleMark", "apply_visible"]


@dataclass(frozen=True)
class VisibleMark:
    text: str | None = None
    logo: Image.Image | None = None
    position: str = "bottom-right"
    opacity: int = 40  # percent
    scale: int = 25  # width of the mark, in percent of the image's width (tiles: of each tile)

    def __post_init__(self) -> None:
        if self.text is None and self.logo is None:
            raise InvalidInput("a visible watermark needs a text or a logo")
        if self.text is not None and not self.text.strip():
            raise InvalidInput("the watermark text is empty")
        if self.text is not None and len(self.text) > 200:
            raise InvalidInput("the watermark text is longer than 200 characters")
        if self.position not in POSITIONS:
            raise InvalidInput(f"unknown position {self.position!r}; use one of {', '.join(POSITIONS)}")
        if not 1 <= self.opacity <= 100:
            raise InvalidInput("opacity is a percentage from 1 to 100")
        if not 2 <= self.scale <= 100:
            raise InvalidInput("scale is a percentage of the image width from 2 to 100")


def _text_stamp(text: str, width: int) -> Image.Image:
    """White text with a dark outline (legible on any background), ``width`` pixels wide."""
    size = 64
    font = ImageFont.load_default(size=size)
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    left, top, right, bottom = probe.textbbox((0, 0), text, font=font, stroke_width=3)
    stamp = Image.new("RGBA", (int(right - left) + 8, int(bottom - top) + 8), (0, 0, 0, 0))
    ImageDraw.Draw(stamp).text(
        (4 - left, 4 - top),
        text,
        font=font,
        fill=(255, 255, 255, 255),
        stroke_width=3,
        stroke_fill=(0, 0, 0, 255),
    )
    height = max(1, round(stamp.height * width / stamp.width))
    return stamp.resize((max(1, width), height), Image.Resampling.LANCZOS)


def _logo_stamp(logo: Image.Image, width: int) -> Image.Image:
    rgba = logo.convert("RGBA")
    height = max(1, round(rgba.height * width / rgba.width))
    return rgba.resize((max(1, width), height), Image.Resampling.LANCZOS)


def _faded(stamp: Image.Image, opacity: int) -> Image.Image:
    alpha = stamp.getchannel("A").point(lambda a: a * opacity // 100)
    stamp.putalpha(alpha)
    return stamp


def apply_visible(image: Image.Image, mark: VisibleMark) -> Image.Image:
    """A copy of ``image`` (RGB) with the mark composited on it."""
    base = image.convert("RGBA")
    width = max(8, base.width * mark.scale // 100)
    stamp = _logo_stamp(mark.logo, width) if mark.logo is not None else _text_stamp(mark.text or "", width)
    stamp = _faded(stamp, mark.opacity)
    margin = max(4, min(base.size) // 40)
    overlay = Image.new("RGBA", base.size, (0, 0, 0, 0))
    if mark.position == "tile":
        step_x, step_y = stamp.width + 2 * margin, stamp.height * 3
        for row, y in enumerate(range(margin, base.height, step_y)):
            offset = (step_x // 2) * (row % 2)
            for x in range(margin - offset, base.width, step_x):
                overlay.paste(stamp, (x, y), stamp)
    else:
        vertical, _, horizontal = mark.position.partition("-")
        if mark.position == "center":
            x, y = (base.width - stamp.width) // 2, (base.height - stamp.height) // 2
        else:
            x = margin if horizontal == "left" else base.width - stamp.width - margin
            y = margin if vertical == "top" else base.height - stamp.height - margin
        overlay.paste(stamp, (max(0, x), max(0, y)), stamp)
    return Image.alpha_composite(base, overlay).convert("RGB")
