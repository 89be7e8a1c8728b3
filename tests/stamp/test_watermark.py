"""The invisible watermark: round trip, invisibility, robustness, re-sync, and no false positives."""

from __future__ import annotations

import io
import math

import cv2
import numpy as np
import pytest
from PIL import Image, ImageEnhance

from fairtrain.errors import InvalidInput
from fairtrain.stamp import watermark
from fairtrain.stamp.watermark import PAYLOAD_BYTES, Detection, detect, embed, psnr

KEY = b"test installation key"


def picture(seed: int, size: tuple[int, int], kind: str) -> Image.Image:
    """A small photo-like picture: ``textured`` (clouds of detail and hard shapes), ``flat`` (a faint gradient
    and grain: the hard case) or ``portrait`` (a soft bright face on a dark ground)."""
    rng = np.random.default_rng(seed)
    width, height = size
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    small = rng.standard_normal((height // 16 + 2, width // 16 + 2, 3)).astype(np.float32)
    clouds = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    if kind == "flat":
        image = rng.uniform(90, 200, 3) + 10 * y * rng.uniform(-1, 1, 3) + 6 * x * rng.uniform(-1, 1, 3)
        grain = 0.8
    elif kind == "portrait":
        face = np.exp(-((((x - 0.5) / 0.25) ** 2 + ((y - 0.45) / 0.33) ** 2) ** 2))
        image = (25 + 8 * clouds) * (1 - face) + (np.array([215, 160, 130]) + 6 * clouds) * face
        grain = 2.0
    else:
        image = rng.uniform(70, 180, 3) + 40 * clouds + 50 * (x - 0.5) * rng.uniform(-1, 1, 3)
        image = np.array(np.broadcast_to(image, (height, width, 3)), dtype=np.float32)
        for _ in range(8):
            x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
            x1, y1 = x0 + int(rng.integers(20, width // 3)), y0 + int(rng.integers(20, height // 3))
            colour = tuple(float(v) for v in rng.uniform(20, 235, 3))
            cv2.rectangle(image, (x0, y0), (x1, y1), colour, -1)
        grain = 3.0
    image = np.broadcast_to(image, (height, width, 3)) + rng.normal(0, grain, (height, width, 1))
    return Image.fromarray(np.clip(image + 0.5, 0, 255).astype(np.uint8), "RGB")


CASES = [
    (picture(1, (640, 480), "textured"), bytes(range(1, 11))),
    (picture(2, (512, 512), "flat"), b"\xff" * PAYLOAD_BYTES),
    (picture(3, (600, 800), "portrait"), bytes.fromhex("0123456789abcdef0011")),
]


@pytest.fixture(scope="module")
def marked() -> list[tuple[Image.Image, Image.Image, bytes]]:
    """(original, marked, payload) for each case, marked once for the whole module."""
    return [(original, embed(original, payload, key=KEY), payload) for original, payload in CASES]


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


def _png(image: Image.Image) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


def _resized(image: Image.Image, factor: float, resample: Image.Resampling) -> Image.Image:
    return image.resize((round(image.width * factor), round(image.height * factor)), resample)


def _found(detection: Detection, payload: bytes) -> bool:
    return detection.found and detection.payload == payload


def test_round_trip(marked: list[tuple[Image.Image, Image.Image, bytes]]) -> None:
    for original, image, payload in marked:
        assert image.mode == "RGB" and image.size == original.size
        detection = detect(image, key=KEY)
        assert detection.found
        assert detection.payload == payload
        assert detection.corrected == 0
        assert detection.confidence == 1.0
        assert not detection.resynced
        assert detection.transform is None


def test_invisible_by_psnr(marked: list[tuple[Image.Image, Image.Image, bytes]]) -> None:
    for original, image, _ in marked:
        assert psnr(original, image) >= 40.0


def test_embedding_is_deterministic_and_keyed() -> None:
    original, payload = CASES[0]
    first, again = embed(original, payload, key=KEY), embed(original, payload, key=KEY)
    assert np.array_equal(np.asarray(first), np.asarray(again))
    assert not np.array_equal(np.asarray(first), np.asarray(embed(original, payload, key=b"other")))


ATTACKS = {
    "jpeg 90": lambda image: _jpeg(image, 90),
    "jpeg 50": lambda image: _jpeg(image, 50),
    "resize 50 %": lambda image: _resized(image, 0.5, Image.Resampling.BICUBIC),
    "brightness +20 %": lambda image: ImageEnhance.Brightness(image).enhance(1.2),
    "brightness -20 %": lambda image: ImageEnhance.Brightness(image).enhance(0.8),
    "screenshot 80 % png": lambda image: _png(_resized(image, 0.8, Image.Resampling.BILINEAR)),
}


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
def test_survives_without_the_original(marked: list[tuple[Image.Image, Image.Image, bytes]], attack) -> None:
    for _, image, payload in marked:
        detection = detect(attack(image), key=KEY)
        assert _found(detection, payload)
        assert 0.0 <= detection.confidence <= 1.0


def _crop_edge(image: Image.Image) -> Image.Image:
    return image.crop((0, 0, image.width * 9 // 10, image.height * 9 // 10))


def _crop_centre(image: Image.Image) -> Image.Image:
    dx, dy = image.width // 20, image.height // 20
    return image.crop((dx, dy, image.width - dx, image.height - dy))


def test_crop_needs_the_original(marked: list[tuple[Image.Image, Image.Image, bytes]]) -> None:
    # A crop moves the mark off the picture's frame: without the original nothing is found (and nothing
    # wrong is reported); with it the suspect is re-synced and the payload comes back.
    original, image, payload = marked[0]
    cropped = _crop_centre(image)
    assert detect(cropped, key=KEY) == Detection(False, None, 0.0, 0, False, None)
    detection = detect(cropped, original=original, key=KEY)
    assert _found(detection, payload)
    assert detection.resynced
    assert detection.transform is not None


RESYNC = {
    "crop 10 % edge": (_crop_edge, 1.0, 0.0, 0.0),
    "crop 10 % centre": (_crop_centre, 1.0, 0.05, 0.05),
    "crop 10 % edge, brightness +20 %": (
        lambda image: ImageEnhance.Brightness(_crop_edge(image)).enhance(1.2),
        1.0,
        0.0,
        0.0,
    ),
}


@pytest.mark.parametrize(("attack", "scale", "left", "top"), RESYNC.values(), ids=RESYNC.keys())
def test_survives_with_the_original(
    marked: list[tuple[Image.Image, Image.Image, bytes]], attack, scale: float, left: float, top: float
) -> None:
    for original, image, payload in marked:
        detection = detect(attack(image), original=original, key=KEY)
        assert _found(detection, payload)
        assert detection.resynced and detection.transform is not None
        assert detection.transform["scale"] == pytest.approx(scale, abs=0.01)
        assert detection.transform["dx"] == pytest.approx(original.width // 20 if left else 0, abs=1.5)
        assert detection.transform["dy"] == pytest.approx(original.height // 20 if top else 0, abs=1.5)


def test_screenshot_with_a_border_is_resynced(marked: list[tuple[Image.Image, Image.Image, bytes]]) -> None:
    # The picture at 80 % inside a page: the original lies inside the suspect.
    original, image, payload = marked[0]
    shown = _resized(image, 0.8, Image.Resampling.BILINEAR)
    page = Image.new("RGB", (shown.width + 40, shown.height + 70), (246, 246, 244))
    page.paste(shown, (20, 50))
    detection = detect(_png(page), original=original, key=KEY)
    assert _found(detection, payload)
    assert detection.transform is not None
    assert detection.transform["scale"] == pytest.approx(0.8, abs=0.01)
    assert detection.transform["dx"] == pytest.approx(-20 / 0.8, abs=2)
    assert detection.transform["dy"] == pytest.approx(-50 / 0.8, abs=2)


def test_unmarked_pictures_give_nothing() -> None:
    unmarked = [original for original, _ in CASES] + [
        Image.new("RGB", (400, 300), (128, 128, 128)),
        Image.new("RGB", (300, 400), (255, 255, 255)),
        Image.fromarray(np.random.default_rng(9).integers(0, 256, (300, 300, 3), dtype=np.uint8), "RGB"),
        picture(4, (520, 390), "textured"),
        picture(5, (390, 520), "flat"),
    ]
    for image in unmarked:
        assert detect(image, key=KEY) == Detection(False, None, 0.0, 0, False, None)
        assert not detect(_jpeg(image, 75)).found
    original = unmarked[0]
    detection = detect(_crop_edge(original), original=original, key=KEY)
    assert not detection.found and detection.payload is None
    assert detection.resynced


def test_another_key_reads_nothing(marked: list[tuple[Image.Image, Image.Image, bytes]]) -> None:
    original, image, payload = marked[0]
    assert not detect(image).found  # the default key
    assert not detect(image, key=b"someone else").found
    assert not detect(_crop_edge(image), original=original, key=b"someone else").found
    foreign = embed(original, payload, key=b"someone else")
    assert not detect(foreign, key=KEY).found
    assert _found(detect(foreign, key=b"someone else"), payload)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK"])
def test_other_modes_are_marked_as_rgb(mode: str) -> None:
    original, payload = CASES[0]
    image = original.convert(mode)
    result = embed(image, payload, key=KEY)
    assert result.mode == "RGB" and result.size == image.size
    assert _found(detect(result, key=KEY), payload)
    if mode != "P":  # a 216-colour web palette with dithering is beyond what the mark is built for
        assert _found(detect(result.convert(mode), key=KEY), payload)


def test_default_key_works() -> None:
    original, payload = CASES[2]
    assert _found(detect(embed(original, payload)), payload)


@pytest.mark.parametrize("payload", [b"", b"x" * (PAYLOAD_BYTES - 1), b"x" * (PAYLOAD_BYTES + 1)])
def test_wrong_payload_length_is_refused(payload: bytes) -> None:
    with pytest.raises(InvalidInput, match=f"{PAYLOAD_BYTES} bytes"):
        embed(CASES[0][0], payload)


@pytest.mark.parametrize("size", [(watermark.MIN_SIDE - 1, 600), (600, watermark.MIN_SIDE - 1), (32, 32)])
def test_tiny_pictures_are_refused(size: tuple[int, int]) -> None:
    with pytest.raises(InvalidInput, match="at least"):
        embed(Image.new("RGB", size, (90, 120, 150)), b"\x00" * PAYLOAD_BYTES)


def test_smallest_picture_round_trips() -> None:
    image = picture(6, (watermark.MIN_SIDE, watermark.MIN_SIDE), "textured")
    payload = b"\x5a" * PAYLOAD_BYTES
    assert _found(detect(embed(image, payload, key=KEY), key=KEY), payload)


def test_psnr() -> None:
    image = CASES[0][0]
    assert psnr(image, image.copy()) == math.inf
    brighter = Image.fromarray(np.clip(np.asarray(image).astype(np.int16) + 1, 0, 255).astype(np.uint8))
    assert psnr(image, brighter) == pytest.approx(10 * math.log10(255**2), abs=0.2)  # MSE about 1
    with pytest.raises(InvalidInput):
        psnr(image, image.resize((10, 10)))
