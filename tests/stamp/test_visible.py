"""Visible watermark: where it lands, how strong it is, and what is refused."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fairtrain.errors import InvalidInput
from fairtrain.stamp.visible import POSITIONS, VisibleMark, apply_visible


def _grey() -> Image.Image:
    return Image.new("RGB", (400, 300), (128, 128, 128))


def _changed(a: Image.Image, b: Image.Image) -> np.ndarray:
    return np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16)).sum(axis=2) > 0


@pytest.mark.parametrize("position", POSITIONS)
def test_text_mark_lands_where_asked(position: str) -> None:
    base = _grey()
    changed = _changed(base, apply_visible(base, VisibleMark(text="© Mira", position=position, opacity=60)))
    ys, xs = np.nonzero(changed)
    assert len(xs) > 100
    cx, cy = xs.mean() / base.width, ys.mean() / base.height
    if position == "tile":
        assert xs.min() < 80 and xs.max() > 320 and ys.min() < 80 and ys.max() > 220
    elif position == "center":
        assert 0.4 < cx < 0.6 and 0.4 < cy < 0.6
    else:
        vertical, horizontal = position.split("-")
        assert (cx > 0.5) == (horizontal == "right")
        assert (cy > 0.5) == (vertical == "bottom")


def test_opacity_scales_the_change() -> None:
    base = _grey()
    faint = np.asarray(apply_visible(base, VisibleMark(text="MIRA", opacity=10)), dtype=np.int16)
    strong = np.asarray(apply_visible(base, VisibleMark(text="MIRA", opacity=90)), dtype=np.int16)
    reference = np.asarray(base, dtype=np.int16)
    assert np.abs(strong - reference).max() > 3 * np.abs(faint - reference).max()


def test_logo_mark_and_size() -> None:
    logo = Image.new("RGBA", (100, 50), (255, 0, 0, 255))
    out = apply_visible(_grey(), VisibleMark(logo=logo, position="top-left", opacity=100, scale=25))
    red = np.asarray(out)[..., 0] == 255
    _, xs = np.nonzero(red)
    assert xs.max() - xs.min() + 1 == 100  # 25 % of 400 px
    assert out.mode == "RGB" and out.size == (400, 300)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"text": "  "},
        {"text": "x" * 201},
        {"text": "x", "position": "middle"},
        {"text": "x", "opacity": 0},
        {"text": "x", "opacity": 101},
        {"text": "x", "scale": 1},
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        VisibleMark(**kwargs)  # type: ignore[arg-type]
