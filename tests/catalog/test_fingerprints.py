"""Fingerprints survive the edits a copy goes through and tell unrelated works apart; media is generated."""

from __future__ import annotations

import io
import itertools
import os
import random
import wave
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from fairtrain.catalog import fingerprints
from fairtrain.catalog.fingerprints import (
    THRESHOLDS,
    Fingerprint,
    NearDuplicateIndex,
    audio_fingerprint,
    chromaprint_available,
    chromaprint_bit_error,
    hamming,
    image_fingerprints,
    is_near,
    minhash_similarity,
    text_fingerprint,
)

SEED = 20240611
N_PHOTOS = 6

# --- generated media ----------------------------------------------------------------------------------------

needs_chromaprint = pytest.mark.skipif(
    not chromaprint_available() and not os.environ.get("CI"),
    reason="libchromaprint1 is not installed (make test installs it; CI requires it)",
)


def _photo(seed: int, size: tuple[int, int] = (800, 600)) -> Image.Image:
    """Something photo-like: a lit gradient background, overlapping soft shapes, texture and sensor noise."""
    rng = np.random.default_rng(seed)
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * x / width + np.sin(angle) * y / height + 1.5) / 3
    colour_a, colour_b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    base = colour_a + (colour_b - colour_a) * ramp[..., None]
    image = Image.fromarray(base.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(6, 12))):
        x0, y0 = int(rng.integers(-100, width)), int(rng.integers(-100, height))
        w, h = int(rng.integers(60, 400)), int(rng.integers(60, 300))
        fill = tuple(int(c) for c in rng.integers(0, 256, 3))
        shape = rng.integers(3)
        if shape == 0:
            draw.ellipse((x0, y0, x0 + w, y0 + h), fill=fill)
        elif shape == 1:
            draw.rectangle((x0, y0, x0 + w, y0 + h), fill=fill)
        else:
            points = [(x0 + int(rng.integers(0, w)), y0 + int(rng.integers(0, h))) for _ in range(5)]
            draw.polygon(points, fill=fill)
    image = image.filter(ImageFilter.GaussianBlur(3))
    noisy = np.asarray(image, dtype=np.float32) + rng.normal(0, 8, (height, width, 3))
    return Image.fromarray(noisy.clip(0, 255).astype(np.uint8))


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


def _half_size(image: Image.Image) -> Image.Image:
    return image.resize((image.width // 2, image.height // 2), Image.Resampling.LANCZOS)


def _brighter(image: Image.Image) -> Image.Image:
    return ImageEnhance.Brightness(image).enhance(1.15)


PhotoFps = list[dict[str, Fingerprint]]
Chord = tuple[float, ...]

EDITS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "jpeg50": lambda im: _jpeg(im, 50),
    "resize50": _half_size,
    "brightness+15": _brighter,
}


def _by_algorithm(fps: list[Fingerprint]) -> dict[str, Fingerprint]:
    return {fp.algorithm: fp for fp in fps}


@pytest.fixture(scope="module")
def photos() -> list[Image.Image]:
    return [_photo(SEED + i) for i in range(N_PHOTOS)]


@pytest.fixture(scope="module")
def photo_fps(photos: list[Image.Image]) -> PhotoFps:
    return [_by_algorithm(image_fingerprints(p)) for p in photos]


_VOCABULARY = """
    river stone light harbour winter garden paper window morning quiet silver engine market voice field
    letter mountain thread orange candle shadow bridge violin orchard lantern meadow copper signal island
    forest ribbon tunnel marble feather compass velvet harvest canyon whistle anchor pepper glacier saddle
    the a of and to in on with under over near beside slowly quickly softly never always again
"""
WORDS = _VOCABULARY.split()


def _text(rng: random.Random, n_words: int = 300) -> list[str]:
    return [rng.choice(WORDS) for _ in range(n_words)]


def _edited(words: list[str], rng: random.Random, fraction: float) -> list[str]:
    copy = list(words)
    for i in rng.sample(range(len(copy)), int(len(copy) * fraction)):
        copy[i] = rng.choice([w for w in WORDS if w != copy[i]])
    return copy


def _fp(text: str) -> Fingerprint:
    fp = text_fingerprint(text)
    assert fp is not None
    return fp


# --- images -------------------------------------------------------------------------------------------------


def test_image_fingerprints_shape(photo_fps: PhotoFps) -> None:
    fps = photo_fps[0]
    assert sorted(fps) == ["dhash64", "pdq256", "phash64"]
    assert len(fps["phash64"].value) == len(fps["dhash64"].value) == 16
    assert len(fps["pdq256"].value) == 64
    assert fps["pdq256"].quality is not None
    assert 0 <= fps["pdq256"].quality <= 100
    assert fps["phash64"].quality is None
    with pytest.raises(ValueError, match="empty"):
        image_fingerprints(Image.new("RGB", (0, 0)))


@pytest.mark.parametrize("edit", EDITS)
def test_edited_copies_stay_near(photos: list[Image.Image], photo_fps: PhotoFps, edit: str) -> None:
    for photo, original in zip(photos, photo_fps, strict=True):
        copy = _by_algorithm(image_fingerprints(EDITS[edit](photo)))
        assert hamming(original["phash64"].value, copy["phash64"].value) <= 10
        assert hamming(original["dhash64"].value, copy["dhash64"].value) <= 10
        assert hamming(original["pdq256"].value, copy["pdq256"].value) <= 31
        assert all(is_near(original[a], copy[a]) for a in original)


def test_different_photos_are_far(photo_fps: PhotoFps) -> None:
    for a, b in itertools.combinations(photo_fps, 2):
        assert hamming(a["phash64"].value, b["phash64"].value) > 10
        assert hamming(a["pdq256"].value, b["pdq256"].value) > 31
        assert not any(is_near(a[alg], b[alg]) for alg in a)


def test_identical_pixels_give_identical_fingerprints(photos: list[Image.Image], photo_fps: PhotoFps) -> None:
    again = _by_algorithm(image_fingerprints(photos[0].copy()))
    assert again == photo_fps[0]


def test_transparent_and_grey_images_are_hashed(photos: list[Image.Image], photo_fps: PhotoFps) -> None:
    rgba = photos[1].convert("RGBA")  # fully opaque: flattening onto white must not change the pixels
    assert _by_algorithm(image_fingerprints(rgba)) == photo_fps[1]
    grey = _by_algorithm(image_fingerprints(photos[1].convert("L")))
    assert hamming(grey["phash64"].value, photo_fps[1]["phash64"].value) <= 10
    palette = photos[1].convert("P")
    palette.info["transparency"] = 0
    assert len(image_fingerprints(palette)) == 3


# --- text ---------------------------------------------------------------------------------------------------


def test_text_fingerprint_normalises_and_needs_three_words() -> None:
    assert text_fingerprint("two words") is None
    assert text_fingerprint("  ...  ") is None
    a = _fp("The quick brown fox, jumps over the lazy dog!")
    b = _fp("the QUICK  brown fox jumps\nover the lazy dog")
    assert a.algorithm == "minhash128"
    assert a == b
    assert minhash_similarity(a.value, b.value) == 1.0


def test_text_edits_stay_near_and_unrelated_texts_do_not() -> None:
    rng = random.Random(SEED)
    words = _text(rng)
    original = _fp(" ".join(words))
    edited = _fp(" ".join(_edited(words, rng, 0.05)))
    unrelated = _fp(" ".join(_text(rng)))
    assert minhash_similarity(original.value, edited.value) >= 0.5
    assert is_near(original, edited)
    assert minhash_similarity(original.value, unrelated.value) < 0.2
    assert not is_near(original, unrelated)


def test_minhash_similarity_rejects_garbage() -> None:
    good = _fp("one two three four").value
    with pytest.raises(ValueError, match="bytes"):
        minhash_similarity(good, "AAAA")
    with pytest.raises(ValueError, match="minhash128"):
        minhash_similarity(good, "not base64!")


# --- comparing ----------------------------------------------------------------------------------------------


def test_hamming_basics() -> None:
    assert hamming("0000000000000000", "0000000000000000") == 0
    assert hamming("0000000000000000", "ffffffffffffffff") == 64
    assert hamming("8000000000000001", "0000000000000000") == 2
    assert hamming("ABCDEF", "abcdef") == 0
    with pytest.raises(ValueError, match="length"):
        hamming("00", "000")
    with pytest.raises(ValueError, match="hex"):
        hamming("zz", "00")


def test_is_near_needs_the_same_algorithm() -> None:
    with pytest.raises(ValueError, match="cannot compare"):
        is_near(Fingerprint("phash64", "0" * 16), Fingerprint("dhash64", "0" * 16))


def test_fingerprint_validates_its_value() -> None:
    with pytest.raises(ValueError, match="unknown"):
        Fingerprint("md5", "0" * 32)
    with pytest.raises(ValueError, match="16 hex digits"):
        Fingerprint("phash64", "0" * 15)
    with pytest.raises(ValueError, match="64 hex digits"):
        Fingerprint("pdq256", "g" * 64)


# --- index --------------------------------------------------------------------------------------------------


def _flip(value: int, bits: list[int] | set[int]) -> str:
    for bit in bits:
        value ^= 1 << bit
    return f"{value:016x}"


def test_index_finds_edited_copies_and_not_unrelated_ones(
    photos: list[Image.Image], photo_fps: PhotoFps
) -> None:
    index = NearDuplicateIndex()
    for i, fps in enumerate(photo_fps):
        for fp in fps.values():
            index.add(f"photo{i}", fp)
    rng = random.Random(SEED)
    texts = [_text(rng) for _ in range(5)]
    for i, words in enumerate(texts):
        index.add(f"text{i}", _fp(" ".join(words)))
    assert len(index) == N_PHOTOS * 3 + 5

    for i, photo in enumerate(photos):
        copy = _by_algorithm(image_fingerprints(_jpeg(_half_size(photo), 50)))
        for fp in copy.values():
            hits = index.query(fp)
            assert [key for key, _ in hits] == [f"photo{i}"], fp.algorithm
    for i, words in enumerate(texts):
        hits = index.query(_fp(" ".join(_edited(words, rng, 0.05))))
        assert [key for key, _ in hits] == [f"text{i}"]
        assert 0.5 <= hits[0][1] < 1.0
    assert index.query(_fp(" ".join(_text(rng)))) == []
    assert index.query(_by_algorithm(image_fingerprints(_photo(SEED + 1000)))["phash64"]) == []


def test_index_returns_best_first_and_refuses_a_second_fingerprint_per_key() -> None:
    index = NearDuplicateIndex()
    base = 0x0123456789ABCDEF
    index.add("far", Fingerprint("phash64", _flip(base, [0, 20, 40, 60, 1, 21, 41, 61])))
    index.add("same", Fingerprint("phash64", _flip(base, [])))
    index.add("near", Fingerprint("phash64", _flip(base, [5])))
    hits = index.query(Fingerprint("phash64", _flip(base, [])))
    assert hits == [("same", 0.0), ("near", 1.0), ("far", 8.0)]
    with pytest.raises(ValueError, match="already"):
        index.add("same", Fingerprint("phash64", "0" * 16))
    index.add("same", Fingerprint("dhash64", "0" * 16))  # another algorithm is fine


def test_multi_index_finds_a_pair_at_exactly_the_threshold() -> None:
    # 3 + 3 + 2 + 2 flips over the four 16-bit chunks: only the chunks with 2 flips can lead to the item.
    base = 0xDEADBEEFCAFEF00D
    index = NearDuplicateIndex()
    index.add("item", Fingerprint("phash64", f"{base:016x}"))
    at_ten = _flip(base, [0, 5, 9, 16, 22, 30, 33, 40, 50, 63])
    assert hamming(at_ten, f"{base:016x}") == 10
    assert index.query(Fingerprint("phash64", at_ten)) == [("item", 10.0)]
    at_eleven = _flip(base, [0, 5, 9, 16, 22, 30, 33, 40, 45, 50, 63])
    assert index.query(Fingerprint("phash64", at_eleven)) == []


@settings(max_examples=300, database=None, deadline=None)
@given(
    base=st.integers(0, 2**64 - 1),
    flips=st.sets(st.integers(0, 63), max_size=16),
    others=st.lists(st.integers(0, 2**64 - 1), max_size=20),
)
def test_multi_index_agrees_with_brute_force(base: int, flips: set[int], others: list[int]) -> None:
    index = NearDuplicateIndex()
    stored = [*others, base]
    for i, value in enumerate(stored):
        index.add(f"k{i}", Fingerprint("dhash64", f"{value:016x}"))
    query = _flip(base, flips)
    expected = {
        f"k{i}": float(hamming(f"{value:016x}", query))
        for i, value in enumerate(stored)
        if hamming(f"{value:016x}", query) <= 10
    }
    hits = index.query(Fingerprint("dhash64", query))
    assert dict(hits) == expected
    assert (f"k{len(others)}" in expected) == (len(flips) <= 10)
    assert [d for _, d in hits] == sorted(d for _, d in hits)


def test_pdq_linear_scan_respects_the_threshold() -> None:
    base = int.from_bytes(bytes(range(32)), "big")
    index = NearDuplicateIndex()
    index.add("at31", Fingerprint("pdq256", f"{base ^ ((1 << 31) - 1):064x}"))
    index.add("at32", Fingerprint("pdq256", f"{base ^ ((1 << 32) - 1):064x}"))
    assert index.query(Fingerprint("pdq256", f"{base:064x}")) == [("at31", 31.0)]
    assert THRESHOLDS["pdq256"] == 31


# --- audio --------------------------------------------------------------------------------------------------

C_MAJOR: Chord = (261.63, 329.63, 392.00)
F_SHARP_MINOR: Chord = (369.99, 440.00, 554.37)
A_FLAT_MAJOR: Chord = (415.30, 523.25, 622.25)


def _write_wav(
    path: Path,
    chords: Sequence[Chord],
    *,
    volume: float = 0.6,
    width: int = 2,
    channels: int = 1,
    rate: int = 22050,
) -> Path:
    seconds_per_chord = 1.0
    t = np.arange(int(rate * seconds_per_chord)) / rate
    envelope = np.minimum(1.0, 20 * t) * np.exp(-1.5 * t)  # a plucked attack and decay per chord
    signal = np.concatenate(
        [envelope * sum(np.sin(2 * np.pi * f * t) for f in chord) / len(chord) for chord in chords]
    )
    signal = np.repeat((volume * signal)[:, None], channels, axis=1)
    full_scale = 2 ** (8 * width - 1) - 1
    samples = np.round(signal * full_scale).astype(np.int64)
    if width == 1:
        raw = (samples + 128).astype(np.uint8).tobytes()
    elif width == 3:
        raw = samples.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    else:
        raw = samples.astype(f"<i{width}").tobytes()
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(raw)
    return path


PROGRESSION = [C_MAJOR, F_SHARP_MINOR, C_MAJOR, A_FLAT_MAJOR] * 2
OTHER_PROGRESSION = [A_FLAT_MAJOR, C_MAJOR, F_SHARP_MINOR, F_SHARP_MINOR] * 2


def test_audio_fingerprint_survives_volume_and_tells_chords_apart(tmp_path: Path) -> None:
    original = _write_wav(tmp_path / "original.wav", PROGRESSION)
    if not chromaprint_available():  # without libchromaprint1 the caller is told "unavailable", no error
        assert audio_fingerprint(original) is None
        return
    fp = audio_fingerprint(original)
    quiet = audio_fingerprint(_write_wav(tmp_path / "quiet.wav", PROGRESSION, volume=0.3))
    other = audio_fingerprint(_write_wav(tmp_path / "other.wav", OTHER_PROGRESSION))
    assert fp is not None and quiet is not None and other is not None
    assert fp.algorithm == "chromaprint" and fp.quality is None
    assert chromaprint_bit_error(fp.value, quiet.value) < 0.05
    assert chromaprint_bit_error(fp.value, other.value) > 0.15
    assert is_near(fp, quiet) and not is_near(fp, other)

    index = NearDuplicateIndex()
    index.add("original", fp)
    index.add("other", other)
    assert [key for key, _ in index.query(quiet)] == ["original"]


@pytest.mark.skipif(
    not chromaprint_available() and not os.environ.get("CI"),
    reason="libchromaprint1 is not installed (make test installs it)",
)
@pytest.mark.parametrize(("width", "channels"), [(1, 1), (3, 1), (4, 1), (2, 2)])
def test_audio_fingerprint_decodes_every_pcm_width(tmp_path: Path, width: int, channels: int) -> None:
    reference = audio_fingerprint(_write_wav(tmp_path / "ref.wav", PROGRESSION))
    variant = audio_fingerprint(_write_wav(tmp_path / "v.wav", PROGRESSION, width=width, channels=channels))
    assert reference is not None and variant is not None
    assert chromaprint_bit_error(reference.value, variant.value) < 0.05


@pytest.mark.skipif(
    not chromaprint_available() and not os.environ.get("CI"),
    reason="libchromaprint1 is not installed (make test installs it)",
)
def test_audio_fingerprint_limits_length_and_skips_what_it_cannot_decode(tmp_path: Path) -> None:
    path = _write_wav(tmp_path / "long.wav", PROGRESSION)
    short = audio_fingerprint(path, max_seconds=4)
    full = audio_fingerprint(path)
    assert short is not None and full is not None
    assert len(short.value) < len(full.value)
    assert chromaprint_bit_error(short.value, full.value) < 0.05  # compared over the overlap
    not_wav = tmp_path / "song.mp3"
    not_wav.write_bytes(b"ID3\x03\x00" + bytes(500))
    assert audio_fingerprint(not_wav) is None
    with pytest.raises(ValueError, match="positive"):
        audio_fingerprint(path, max_seconds=0)


def test_without_chromaprint_audio_is_unavailable_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fingerprints, "_load_chromaprint", lambda: None)
    assert not chromaprint_available()
    assert audio_fingerprint(_write_wav(tmp_path / "a.wav", PROGRESSION)) is None
    with pytest.raises(fingerprints.ChromaprintUnavailable):
        chromaprint_bit_error("AQAA", "AQAA")
