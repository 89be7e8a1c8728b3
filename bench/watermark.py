"""How fairtrain's invisible watermark holds up, next to blind-watermark 0.4.4 measured in the same run.

Twelve photo-like pictures of 1.3–1.7 MP are generated (a landscape, flat and gradient skies, fine texture,
foliage, a portrait, a night scene, a high-key picture, flat graphics, stripes, a street-like scene), each
marked with its own 80-bit payload, attacked, and read back: by fairtrain without the original (blind), and
with the stored original (re-sync). The baseline gets the same pictures, payload bits and attacks, and the
same re-sync (``fairtrain.stamp.resync``) before its extraction. Each side runs in its own process (importing
``blind_watermark`` sets the multiprocessing start method), on one thread: OpenCV's and the BLAS's. See
``bench/README.md`` for how to read the table.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageEnhance

__all__ = ["main"]

REPO_ROOT = Path(__file__).resolve().parent.parent
PICTURES_ENV = "FAIRTRAIN_BENCH_WATERMARK_N"  # default: one picture of each kind
KINDS = (
    *("landscape", "shapes", "texture", "portrait", "flat", "night"),
    *("highkey", "graphic", "foliage", "stripes", "gradient", "street"),
)
BASELINE = "blind-watermark"
BASELINE_VERSION = "0.4.4"
TARGET_PSNR = 40.0
TARGET_DETECTION = 0.99
_RESULT = "RESULT "  # prefix of the one line the baseline process prints for the parent

F32 = npt.NDArray[np.float32]


# --- pictures ----------------------------------------------------------------------------------------------


def _field(rng: np.random.Generator, height: int, width: int, beta: float) -> F32:
    """A random field with a 1/f^beta spectrum (clouds, foliage, skin), zero mean and unit variance; built at
    a quarter of the size and enlarged, so it is quick."""
    small_h, small_w = max(8, height // 4), max(8, width // 4)
    fy = np.fft.fftfreq(small_h)[:, None]
    fx = np.fft.rfftfreq(small_w)[None, :]
    frequency = np.sqrt(fx * fx + fy * fy)
    frequency[0, 0] = 1.0
    phases = rng.standard_normal(frequency.shape) + 1j * rng.standard_normal(frequency.shape)
    spectrum = phases / frequency**beta
    spectrum[0, 0] = 0
    small = np.fft.irfft2(spectrum, s=(small_h, small_w)).astype(np.float32)
    big = np.asarray(cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC), dtype=np.float32)
    return np.asarray((big - big.mean()) / (big.std() + 1e-6), dtype=np.float32)


def _shapes(rng: np.random.Generator, canvas: F32, count: int) -> None:
    """Hard-edged ellipses, rectangles and thick lines, drawn anti-aliased into ``canvas`` in place."""
    height, width = canvas.shape[:2]
    for _ in range(count):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        x1, y1 = x0 + int(rng.integers(20, width // 2)), y0 + int(rng.integers(20, height // 2))
        colour = tuple(float(v) for v in rng.uniform(20, 235, 3))
        shape = int(rng.integers(0, 3))
        if shape == 0:
            centre, axes = ((x0 + x1) // 2, (y0 + y1) // 2), ((x1 - x0) // 2, (y1 - y0) // 2)
            cv2.ellipse(canvas, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1, cv2.LINE_AA)
        elif shape == 1:
            cv2.rectangle(canvas, (x0, y0), (x1, y1), colour, -1)
        else:
            cv2.line(canvas, (x0, y0), (x1, y1), colour, int(rng.integers(2, 25)), cv2.LINE_AA)


def photo(seed: int, size: tuple[int, int], kind: str) -> Image.Image:
    """A photo-like RGB picture of ``size`` (width, height) in one of KINDS, the same for the same seed."""
    rng = np.random.default_rng(seed)
    width, height = size
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]

    def colour(low: float = 0, high: float = 255) -> F32:
        return rng.uniform(low, high, 3).astype(np.float32)

    def field(beta: float) -> F32:
        return _field(rng, height, width, beta)[..., None]

    noise = 3.0
    image: npt.NDArray[np.floating[Any]]
    if kind == "flat":  # a backdrop or a clear sky: the hard case
        image = colour(90, 200) + y * rng.uniform(-12, 12, 3) + x * rng.uniform(-8, 8, 3)
        noise = 0.8
    elif kind == "gradient":
        image = colour(40, 220) + y * rng.uniform(-90, 90, 3) + x * rng.uniform(-60, 60, 3) + 6 * field(2.2)
        noise = 1.5
    elif kind == "landscape":
        sky = colour(150, 240) - y * 60
        ground = colour(30, 140) + 30 * field(1.4) * colour(0.5, 1.2)
        horizon = 0.45 + 0.05 * _field(rng, 1, width, 1.8)[0][None, :, None]
        land = 1 / (1 + np.exp(-(y - horizon) * 80))
        image = sky * (1 - land) + ground * land
    elif kind == "texture":
        image = colour(60, 190) + 45 * np.concatenate([field(1.1) for _ in range(3)], axis=2)
    elif kind == "foliage":
        leaves = np.array([0.6, 1.0, 0.5], np.float32)
        image = np.array([40, 110, 35], np.float32) + colour(-25, 25) + 55 * field(0.7) * leaves
        noise = 6.0
    elif kind == "portrait":
        background = colour(10, 60) + 15 * field(2.0)
        cx, cy, radius = rng.uniform(0.35, 0.65), rng.uniform(0.35, 0.55), rng.uniform(0.18, 0.3)
        face = np.exp(-((((x - cx) / radius) ** 2 + ((y - cy) / (1.3 * radius)) ** 2) ** 2))
        skin = np.array([215, 160, 130], np.float32) + colour(-20, 20) + 10 * field(2.0)
        image = background * (1 - face) + skin * face
        noise = 2.0
    elif kind == "night":
        image = colour(5, 30) + 12 * field(1.6)
        for _ in range(25):
            cx, cy, radius = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.005, 0.03)
            light = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * radius * radius))
            image = image + light * colour(100, 255)
        noise = 4.0
    elif kind == "highkey":
        image = colour(215, 250) + 12 * field(2.0)
        cx, cy, radius = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.1, 0.25)
        image = image - 120 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * radius * radius))
        noise = 2.0
    elif kind == "stripes":  # fabric, blinds, a fence
        angle, frequency = rng.uniform(0, np.pi), rng.uniform(20, 60)
        wave = np.sin(2 * np.pi * frequency * (x * np.cos(angle) + y * np.sin(angle) * height / width))
        image = colour(60, 180) + 40 * wave * colour(0.3, 1) + 20 * field(1.5)
    else:  # shapes, graphic, street: a gradient with hard-edged shapes
        image = colour(30, 225) + x * rng.uniform(-90, 90, 3) + y * rng.uniform(-90, 90, 3)
        if kind == "street":
            image = image * 0.6 + 25 * field(1.3)
        canvas = np.array(np.broadcast_to(image, (height, width, 3)), dtype=np.float32)
        _shapes(rng, canvas, int(rng.integers(6, 20)))
        if kind == "graphic":
            noise = 0.0  # flat colours, no grain: an illustration
            image = canvas
        else:
            image = np.asarray(cv2.GaussianBlur(canvas, (0, 0), 1.2), dtype=np.float32)
    image = np.broadcast_to(image, (height, width, 3)).astype(np.float32)
    if noise:
        image = image + rng.normal(0, noise, (height, width, 1)).astype(np.float32)
    return Image.fromarray(np.clip(image + 0.5, 0, 255).astype(np.uint8), "RGB")


def _picture_count() -> int:
    raw = os.environ.get(PICTURES_ENV, str(len(KINDS)))
    try:
        count = int(raw)
    except ValueError:
        raise SystemExit(f"{PICTURES_ENV} must be a whole number of pictures, got {raw!r}") from None
    if count < 1:
        raise SystemExit(f"{PICTURES_ENV} must be at least 1")
    return count


def _corpus(count: int) -> list[tuple[str, Image.Image]]:
    """``count`` pictures, the kinds in turn, 1.3-1.7 MP, a third of them portrait."""
    pictures = []
    for index in range(count):
        kind = KINDS[index % len(KINDS)]
        rng = np.random.default_rng(10_000 + index)
        width, height = int(rng.integers(1250, 1650)), int(rng.integers(900, 1150))
        if index % 3 == 2:
            width, height = height, width
        pictures.append((kind, photo(20_000 + index, (width, height), kind)))
    return pictures


# --- attacks -----------------------------------------------------------------------------------------------


def _encoded(image: Image.Image, fmt: str, **options: Any) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


def _jpeg(quality: int) -> Callable[[Image.Image, int], Image.Image]:
    return lambda image, _index: _encoded(image, "JPEG", quality=quality)  # Pillow's default 4:2:0


def _resized(image: Image.Image, factor: float, resample: Image.Resampling) -> Image.Image:
    return image.resize((round(image.width * factor), round(image.height * factor)), resample)


def _crop_edge(image: Image.Image, index: int) -> Image.Image:
    """10 % off the width and 10 % off the height, from one corner (a different one per picture)."""
    dx, dy = round(image.width * 0.1), round(image.height * 0.1)
    left, top = ((0, 0), (dx, dy), (dx, 0), (0, dy))[index % 4]
    return image.crop((left, top, left + image.width - dx, top + image.height - dy))


def _crop_centre(image: Image.Image, _index: int) -> Image.Image:
    """5 % off each side: the central 90 % of the width and of the height."""
    dx, dy = round(image.width * 0.05), round(image.height * 0.05)
    return image.crop((dx, dy, image.width - dx, image.height - dy))


def _brightness(factor: float) -> Callable[[Image.Image, int], Image.Image]:
    return lambda image, _index: ImageEnhance.Brightness(image).enhance(factor)


def _screenshot(image: Image.Image, _index: int) -> Image.Image:
    return _encoded(_resized(image, 0.8, Image.Resampling.BILINEAR), "PNG")


def _screenshot_in_page(image: Image.Image, _index: int) -> Image.Image:
    """The picture at 80 % on a light page with margins, as a screenshot of a web page would hold it."""
    shown = _resized(image, 0.8, Image.Resampling.BILINEAR)
    page = Image.new("RGB", (shown.width + 64, shown.height + 120), (246, 246, 244))
    page.paste(shown, (32, 88))
    return _encoded(page, "PNG")


@dataclass(frozen=True)
class _Attack:
    name: str
    apply: Callable[[Image.Image, int], Image.Image]
    resync: bool  # whether the re-sync columns are measured (crops and screenshots)
    extra: bool = False  # beyond the targets


ATTACKS = (
    _Attack("none", lambda image, _index: image, resync=False),
    _Attack("JPEG 90", _jpeg(90), resync=False),
    _Attack("JPEG 75", _jpeg(75), resync=False),
    _Attack("JPEG 50", _jpeg(50), resync=False),
    _Attack("resize 50 %", lambda image, _i: _resized(image, 0.5, Image.Resampling.BICUBIC), resync=False),
    _Attack("crop 10 % edge", _crop_edge, resync=True),
    _Attack("crop 10 % centre", _crop_centre, resync=True),
    _Attack("brightness +20 %", _brightness(1.2), resync=False),
    _Attack("brightness -20 %", _brightness(0.8), resync=False),
    _Attack("screenshot 80 % PNG", _screenshot, resync=True),
    _Attack(
        "crop 10 % + JPEG 75", lambda image, i: _jpeg(75)(_crop_centre(image, i), i), resync=True, extra=True
    ),
    _Attack(
        "resize 50 % + JPEG 75",
        lambda image, i: _jpeg(75)(_resized(image, 0.5, Image.Resampling.BICUBIC), i),
        resync=False,
        extra=True,
    ),
    _Attack("screenshot in a page", _screenshot_in_page, resync=True, extra=True),
)


# --- measurements ------------------------------------------------------------------------------------------


@dataclass
class _Row:
    bits: list[float] = field(default_factory=list)
    found: list[bool] = field(default_factory=list)
    resync_bits: list[float] = field(default_factory=list)
    resync_found: list[bool] = field(default_factory=list)


@dataclass
class _Results:
    name: str
    psnr: list[float] = field(default_factory=list)
    embed_seconds: list[float] = field(default_factory=list)
    read_seconds: list[float] = field(default_factory=list)
    resync_seconds: list[float] = field(default_factory=list)
    rows: dict[str, _Row] = field(default_factory=lambda: {attack.name: _Row() for attack in ATTACKS})
    unmarked_reads: int = 0
    false_positives: int = 0
    unmarked_bits: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _payloads(count: int) -> list[bytes]:
    rng = np.random.default_rng(7)
    return [rng.bytes(10) for _ in range(count)]


def _load(folder: Path) -> list[tuple[str, Image.Image, bytes]]:
    """(kind, picture, payload) for each picture the parent wrote into ``folder``."""
    loaded = []
    for entry in json.loads((folder / "manifest.json").read_text()):
        with Image.open(folder / entry["file"]) as opened:
            loaded.append((entry["kind"], opened.convert("RGB"), bytes.fromhex(entry["payload"])))
    return loaded


def _fairtrain(folder: Path) -> _Results:
    from fairtrain.stamp import resync, watermark

    key = b"bench installation key"
    results = _Results("fairtrain")

    def coded_bit_accuracy(rgb: F32, payload: bytes) -> float:
        # The 256 coded bits as read, before Reed-Solomon: what the error-correcting code has to fix.
        votes = watermark._soft_bits(watermark._read_cells(rgb, key), key)
        return float(((votes < 0).astype(np.uint8) == watermark._coded_bits(payload, key)).mean())

    def resync_bit_accuracy(suspect: Image.Image, original: Image.Image, payload: bytes) -> float:
        # On the best-matching placement, which is the one the decoder tries first.
        rgb, reference = watermark._rgb(suspect), watermark._rgb(original)
        candidates = resync.align(rgb, reference)
        if not candidates:
            return 0.5
        return coded_bit_accuracy(resync.restore(rgb, reference, candidates[0])[0], payload)

    for index, (kind, original, payload) in enumerate(_load(folder)):
        started = time.perf_counter()
        marked = watermark.embed(original, payload, key=key)
        results.embed_seconds.append(time.perf_counter() - started)
        results.psnr.append(watermark.psnr(original, marked))
        for attack in ATTACKS:
            suspect = attack.apply(marked, index)
            row = results.rows[attack.name]
            started = time.perf_counter()
            detection = watermark.detect(suspect, key=key)
            results.read_seconds.append(time.perf_counter() - started)
            row.found.append(detection.found and detection.payload == payload)
            row.bits.append(coded_bit_accuracy(watermark._rgb(suspect), payload))
            if attack.resync:
                started = time.perf_counter()
                detection = watermark.detect(suspect, original=original, key=key)
                results.resync_seconds.append(time.perf_counter() - started)
                row.resync_found.append(detection.found and detection.payload == payload)
                row.resync_bits.append(resync_bit_accuracy(suspect, original, payload))
            # The same attack on the unmarked picture: nothing to find, blind or re-synced.
            unmarked = attack.apply(original, index)
            results.unmarked_reads += 1
            results.false_positives += watermark.detect(unmarked, key=key).found
            if attack.resync and not attack.extra:
                results.unmarked_reads += 1
                results.false_positives += watermark.detect(unmarked, original=original, key=key).found
        foreign = watermark.embed(original, payload, key=b"another installation")
        results.unmarked_reads += 2
        results.false_positives += watermark.detect(foreign, key=key).found
        results.false_positives += watermark.detect(foreign, original=original, key=key).found
        results.unmarked_bits.append(coded_bit_accuracy(watermark._rgb(original), payload))
        print(f"  fairtrain: {kind} done", file=sys.stderr, flush=True)
    return results


# --- the baseline, in its own process ----------------------------------------------------------------------


def _baseline(folder: Path) -> _Results:
    """blind-watermark on the pictures in ``folder``, with fairtrain's re-sync for its re-sync columns."""
    import blind_watermark  # type: ignore[import-untyped]

    from fairtrain.stamp import resync

    blind_watermark.bw_notes.close()
    results = _Results(f"{BASELINE} {BASELINE_VERSION}")
    results.notes.append("reads a copy of another size after resizing it to the original's size")

    def extract(image: Image.Image, size: tuple[int, int], bits: npt.NDArray[np.bool_]) -> float:
        if image.size != size:  # its block grid follows the picture's size
            image = image.resize(size, Image.Resampling.BICUBIC)
        bgr = np.ascontiguousarray(np.asarray(image.convert("RGB"))[..., ::-1])
        reader = blind_watermark.WaterMark(password_img=1, password_wm=1)
        read = np.asarray(reader.extract(embed_img=bgr, wm_shape=bits.size, mode="bit"), dtype=np.float64)
        return float(((read >= 0.5) == bits).mean())

    def resynced(suspect: Image.Image, original: Image.Image) -> Image.Image:
        rgb = np.asarray(suspect, dtype=np.float32)
        reference = np.asarray(original, dtype=np.float32)
        candidates = resync.align(rgb, reference)
        if not candidates:
            return suspect
        restored, _ = resync.restore(rgb, reference, candidates[0])
        return Image.fromarray(np.clip(np.rint(restored), 0, 255).astype(np.uint8), "RGB")

    for index, (kind, original, payload) in enumerate(_load(folder)):
        bits = np.unpackbits(np.frombuffer(payload, np.uint8)).astype(bool)
        writer = blind_watermark.WaterMark(password_img=1, password_wm=1)
        started = time.perf_counter()
        writer.read_img(img=np.ascontiguousarray(np.asarray(original)[..., ::-1]))
        writer.read_wm(bits.copy(), mode="bit")
        embedded = writer.embed()
        results.embed_seconds.append(time.perf_counter() - started)
        marked = Image.fromarray(np.clip(np.rint(embedded[..., ::-1]), 0, 255).astype(np.uint8), "RGB")
        results.psnr.append(_psnr(original, marked))
        for attack in ATTACKS:
            suspect = attack.apply(marked, index)
            row = results.rows[attack.name]
            started = time.perf_counter()
            row.bits.append(extract(suspect, original.size, bits))
            results.read_seconds.append(time.perf_counter() - started)
            row.found.append(row.bits[-1] == 1.0)
            if attack.resync:
                started = time.perf_counter()
                row.resync_bits.append(extract(resynced(suspect, original), original.size, bits))
                results.resync_seconds.append(time.perf_counter() - started)
                row.resync_found.append(row.resync_bits[-1] == 1.0)
        results.unmarked_bits.append(extract(original, original.size, bits))
        results.unmarked_reads += 1
        results.false_positives += results.unmarked_bits[-1] == 1.0
        print(f"  {BASELINE}: {kind} done", file=sys.stderr, flush=True)
    return results


def _psnr(a: Image.Image, b: Image.Image) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def _as_json(results: _Results) -> dict[str, Any]:
    data = dict(results.__dict__)
    data["rows"] = {name: row.__dict__ for name, row in results.rows.items()}
    return data


def _from_json(data: dict[str, Any]) -> _Results:
    rows = {name: _Row(**row) for name, row in data.pop("rows").items()}
    return _Results(**data, rows=rows)


def _child(role: str, folder: Path) -> None:
    """Runs in a fresh interpreter: one side's measurements; prints one RESULT line for the parent."""
    cv2.setNumThreads(1)
    results = _fairtrain(folder) if role == "fairtrain" else _baseline(folder)
    print(_RESULT + json.dumps(_as_json(results)), flush=True)


def _in_child(role: str, folder: Path) -> _Results:
    # One thread for numpy's BLAS as well as for OpenCV (set in the child), the same for both sides.
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    # A fixed argv of this interpreter and module; the arguments are a role and our own temporary folder.
    process = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bench.watermark", role, str(folder)],
        cwd=REPO_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    results = [line for line in process.stdout.splitlines() if line.startswith(_RESULT)]
    if process.returncode != 0 or not results:
        raise RuntimeError(f"the {role} measurement failed (exit code {process.returncode}); see above")
    return _from_json(json.loads(results[-1].removeprefix(_RESULT)))


def _write(folder: Path, pictures: list[tuple[str, Image.Image]], payloads: list[bytes]) -> None:
    manifest = []
    for index, ((kind, picture), payload) in enumerate(zip(pictures, payloads, strict=True)):
        name = f"{index:02d}-{kind}.png"
        picture.save(folder / name, "PNG")
        manifest.append({"file": name, "kind": kind, "payload": payload.hex()})
    (folder / "manifest.json").write_text(json.dumps(manifest))


# --- report ------------------------------------------------------------------------------------------------


def _share(values: list[float] | list[bool]) -> str:
    return f"{float(np.mean(values)):.3f}" if values else "–"


def _report(results: _Results, count: int) -> None:
    print(f"\n{results.name}")
    print(f"{'attack':<24} {'bits':>6} {'found':>6}   {'re-sync bits':>12} {'found':>6}")
    for attack in ATTACKS:
        row = results.rows[attack.name]
        name = attack.name + (" *" if attack.extra else "")
        print(
            f"{name:<24} {_share(row.bits):>6} {_share(row.found):>6}   "
            f"{_share(row.resync_bits):>12} {_share(row.resync_found):>6}"
        )
    rate = results.false_positives / results.unmarked_reads if results.unmarked_reads else 0.0
    print(
        f"{'unmarked → found':<24} {_share(results.unmarked_bits):>6} {rate:>6.3f}   "
        f"({results.false_positives} false positives in {results.unmarked_reads} reads)"
    )
    low = min(results.psnr)
    print(
        f"PSNR {float(np.mean(results.psnr)):.1f} dB mean, {low:.1f} dB lowest "
        f"({'PASS' if low >= TARGET_PSNR else 'MISS'} ≥ {TARGET_PSNR:.0f} dB) · "
        f"embed {float(np.mean(results.embed_seconds)):.2f} s · "
        f"read {float(np.mean(results.read_seconds)):.3f} s · "
        f"re-sync and read {float(np.mean(results.resync_seconds)) if results.resync_seconds else 0:.2f} s "
        f"per picture ({count} pictures, one thread)"
    )
    for note in results.notes:
        print(f"note: {results.name} {note}")


def _verdicts(results: _Results) -> None:
    print(f"\n{'target (fairtrain)':<48} {'measured':>9} {'target':>8}")
    for attack in ATTACKS:
        if attack.extra or attack.name == "none":
            continue
        row = results.rows[attack.name]
        found = row.resync_found if attack.resync else row.found
        rate = float(np.mean(found))
        label = f"detected after {attack.name}" + (" (re-sync)" if attack.resync else " (blind)")
        verdict = "PASS" if rate >= TARGET_DETECTION else "MISS"
        print(f"{label:<48} {rate:>9.2f} {'≥ 0.99':>8}  {verdict}")
    verdict = "PASS" if results.false_positives == 0 else "MISS"
    print(f"{'false positives on unmarked pictures':<48} {results.false_positives:>9} {'0':>8}  {verdict}")


def main() -> None:
    started = time.perf_counter()
    pictures = _corpus(_picture_count())
    payloads = _payloads(len(pictures))
    megapixels = [p.width * p.height / 1e6 for _, p in pictures]
    print(
        f"watermark: {len(pictures)} generated pictures of {min(megapixels):.1f}–{max(megapixels):.1f} MP "
        f"({', '.join(kind for kind, _ in pictures)}), made in {time.perf_counter() - started:.1f} s; "
        f"80-bit payloads; each side measured in its own process on one thread (OpenCV and BLAS); "
        f"rows marked * go beyond the issue's targets",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="fairtrain-bench-watermark-") as tmp:
        folder = Path(tmp)
        _write(folder, pictures, payloads)
        ours = _in_child("fairtrain", folder)
        baseline = _in_child("baseline", folder) if find_spec("blind_watermark") is not None else None
    _report(ours, len(pictures))
    if baseline is None:
        print(f"\n{BASELINE} is not installed, so no baseline (`make bench` installs it)")
    else:
        _report(baseline, len(pictures))
    _verdicts(ours)


if __name__ == "__main__":
    _child(sys.argv[1], Path(sys.argv[2]))
