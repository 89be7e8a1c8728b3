"""fairtrain's invisible image watermark: an 80-bit payload, error-corrected, keyed, and re-synchronisable.

**Domain.** The mark lives in the luma of the whole picture seen at a fixed working resolution: the luma plane
(BT.601 weights, the ones JPEG uses) is resized by area averaging to a 256 × 256 *grid*, whatever the
picture's size and shape. Embedding computes a correction on that grid, enlarges it to the picture's size and
adds it equally to R, G and B. Detection shrinks the suspect to the same grid. So a resized copy (a
thumbnail, a screenshot at 80 %) lands on the same grid as the original without any search, the mark sits
at low frequencies of the full-size picture (periods of about 1/64 to 1/9 of its width), where JPEG and
resizing barely touch it, and the work is the same for 0.1 MP as for 20 MP: embedding is a few
full-resolution passes of resize-and-add, the rest happens on 65,536 grid pixels.

On the grid the mark uses a periodic *modulated lapped transform* (MLT, Malvar) with 16 × 16 blocks: an
orthonormal basis of smooth, overlapping windowed cosines, so the mark has no block edges to see. Each block
holds 16 low-frequency coefficients (4 per axis, 1/64 to 7/64 cycles per grid pixel); the lowest one, which
a brightness *offset* moves, is left alone. That makes 256 blocks × 15 = 3,840 *cells*.

**Modulation.** Each cell carries one coded bit by dithered quantisation index modulation (QIM): the cell is
moved to the nearest point of the lattice ``STEP·Z + dither + bit·STEP/2``. The host's own content therefore
does not interfere with reading (unlike additive spread spectrum), and the step is chosen so that the
expected distortion (``STEP²/12`` per cell) gives a PSNR of about 42.5 dB (41.5–43 dB measured). Embedding
re-measures the finished 8-bit picture and corrects what rounding, clipping at 0/255 and the resize to the
grid moved, three times. Every coded bit is repeated in 15 cells, scattered over the picture by a key-derived
permutation.

**Reading.** QIM is sensitive to gain, so the decoder first finds it: a coarse search for the scale at which
the cells sit best on the lattice (mean of ``cos(2π·offset/half-step)``), then three rounds of
decision-directed least squares that fit one gain per frequency (a blur or a resize dims higher
frequencies more) and one per block (a brightness change that clips, a gamma curve). Each block is weighted
by how well its cells sit on the lattice (clipped or edited blocks fit badly and count for little), and each
bit is the weighted soft vote of its 15 cells.

**Coding and the false-positive bound.** The 10-byte payload is followed by a 4-byte check,
``HMAC-SHA256(key, payload)[:4]``, and the 14 bytes are Reed-Solomon encoded with 18 parity bytes
(``reedsolo``, GF(256)): 32 bytes, 256 coded bits, up to 9 wrong bytes or 18 erased ones corrected. The coded
bits are XORed with a key-derived mask, so that a blank picture (all cells alike) does not read as the
all-zero codeword. A mark is *found* only when the Reed-Solomon decoder succeeds **and** the check matches;
no threshold on bit votes decides anything. For an unmarked picture (or one marked with another key) the
bytes read are unrelated to the key, so whatever payload the decoder produces carries a check that matches
with probability 2^-32 (HMAC-SHA256 is a pseudo-random function). One :func:`detect` makes at most
``ATTEMPTS_PER_READ`` (3: no erasures, then the 6 and 12 least reliable bytes erased) decoder runs per read
and at most ``1 + resync.MAX_CANDIDATES`` (4) reads, so by the union bound the false-positive rate is at
most 12 × 2^-32 ≈ 2.8e-9 per picture, well below the 1e-6 target. This bound ignores the code itself, which
only lowers it further (a random 32-byte word lies within 9 byte errors of a codeword with probability about
1e-14).

**Size.** Pictures need at least ``MIN_SIDE`` (128) pixels on each side. The mark's frequencies are fixed
relative to the picture, so on a small one they are high in absolute terms: below about 256 pixels on the
short side it is read back losslessly but no longer survives JPEG 50 or halving (192 pixels still takes
JPEG 75).

**Key.** The key seeds the cell permutation, the dithers and the bit mask, and keys the check: without it one
can neither read a mark nor make one that reads as valid. With ``key=b""`` everything still works, with a
public layout.

**Re-sync.** Given the creator's stored original, :func:`detect` first reads the suspect as it is (a JPEG or a
resized copy needs nothing more), then aligns it with the original (scale, offset, per-channel gain and
offset, and a small filter, see :mod:`fairtrain.stamp.resync`) and reads the original plus the suspect's
aligned difference from it. That takes crops, rescaled crops and screenshots with borders back onto the
original's frame.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
import numpy.typing as npt
import reedsolo  # type: ignore[import-untyped]
from PIL import Image

from fairtrain.errors import InvalidInput
from fairtrain.stamp import resync

__all__ = ["MIN_SIDE", "PAYLOAD_BYTES", "Detection", "detect", "embed", "psnr"]

PAYLOAD_BYTES = 10  # 80 bits: the service packs an asset id into it
MIN_SIDE = 128  # pixels per side; smaller pictures are refused (see **Size** above)

GRID = 256  # the working resolution, per side
BLOCK = 16  # MLT block size on the grid
FREQUENCIES = 4  # MLT frequencies used per axis (0..3), the (0, 0) one excepted
CHECK_BYTES = 4
PARITY_BYTES = 18
CODE_BYTES = PAYLOAD_BYTES + CHECK_BYTES + PARITY_BYTES
CODE_BITS = 8 * CODE_BYTES
BLOCKS = (GRID // BLOCK) ** 2
CELLS_PER_BLOCK = FREQUENCIES * FREQUENCIES - 1
CELLS = BLOCKS * CELLS_PER_BLOCK
REPEATS = CELLS // CODE_BITS  # 15 cells per coded bit
TARGET_MSE = 3.2  # per pixel, in 8-bit levels squared: PSNR about 10·log10(255²/3.2) ≈ 43 dB before rounding
STEP = float(np.sqrt(12 * GRID * GRID * TARGET_MSE / (REPEATS * CODE_BITS)))  # QIM step, grid units
EMBED_PASSES = 3
COARSE_GAINS = np.geomspace(0.5, 2.0, 140)  # the gain search's range: 1 % steps
GAIN_ROUNDS = 3
BLOCK_GAIN_PRIOR = 4.0  # shrinks each block's gain towards the frequency gains (in cells' worth of data)
ERASURES = (0, 6, 12)  # decoder runs per read: none, then the least reliable bytes erased
ATTEMPTS_PER_READ = len(ERASURES)

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Detection:
    """What :func:`detect` read.

    ``found`` is decided only by the Reed-Solomon decoder succeeding and the keyed check matching. Then
    ``payload`` is the ``PAYLOAD_BYTES`` embedded, ``corrected`` the number of code bytes the decoder changed,
    and ``confidence`` the share of the code's correcting power left unused: ``1 - (2·errors + erasures) /
    PARITY_BYTES`` (1.0 for a clean read, near 0 at the edge of what the code can fix). ``resynced`` says
    whether the suspect was aligned with the original (for a miss: whether that was tried), and
    ``transform`` what the alignment found: ``scale`` (suspect pixels per original pixel), ``dx``/``dy``
    (where the suspect's top-left corner falls in the original), ``gain``/``offset`` (mean photometric fit),
    ``correlation`` and ``covered`` (share of the original the suspect shows); None without alignment.
    """

    found: bool
    payload: bytes | None
    confidence: float
    corrected: int
    resynced: bool
    transform: dict[str, float] | None


_MISSED = Detection(found=False, payload=None, confidence=0.0, corrected=0, resynced=False, transform=None)


@dataclass(frozen=True)
class _Layout:
    """Where each coded bit lives, derived from the key: ``cells[bit, repeat]`` is a flat cell index
    (block * CELLS_PER_BLOCK + frequency), ``dither`` its lattice offset, ``mask`` XORed into the bits."""

    cells: npt.NDArray[np.intp]
    dither: F64
    mask: npt.NDArray[np.uint8]


@lru_cache(maxsize=8)
def _layout(key: bytes) -> _Layout:
    seed = int.from_bytes(hashlib.sha256(b"fairtrain watermark layout v1\x00" + key).digest(), "big")
    rng = np.random.default_rng(seed)
    cells = rng.permutation(CELLS)[: REPEATS * CODE_BITS].reshape(CODE_BITS, REPEATS)
    return _Layout(
        cells=cells,
        dither=rng.uniform(0, STEP, (CODE_BITS, REPEATS)),
        mask=rng.integers(0, 2, CODE_BITS, dtype=np.uint8),
    )


def _check(payload: bytes, key: bytes) -> bytes:
    return hmac.new(key, b"fairtrain watermark check v1\x00" + payload, hashlib.sha256).digest()[:CHECK_BYTES]


@lru_cache(maxsize=1)
def _codec() -> reedsolo.RSCodec:
    return reedsolo.RSCodec(PARITY_BYTES)


def _coded_bits(payload: bytes, key: bytes) -> npt.NDArray[np.uint8]:
    codeword = bytes(_codec().encode(payload + _check(payload, key)))
    return np.unpackbits(np.frombuffer(codeword, np.uint8)) ^ _layout(key).mask


# --- the grid and its lapped transform ---------------------------------------------------------------------


@lru_cache(maxsize=1)
def _lapped() -> F64:
    """The periodic MLT's basis vectors of the used frequencies, as rows: (GRID/BLOCK × FREQUENCIES, GRID).

    Row ``b·FREQUENCIES + k`` is ``sqrt(2/M)·w(n)·cos(π/M·(n + 1/2 + M/2)·(k + 1/2))`` on the 2M samples from
    ``b·M`` (wrapping round), ``w(n) = sin(π(n + 1/2)/2M)``, M = BLOCK: orthonormal rows.
    """
    n = np.arange(2 * BLOCK)
    window = np.sin(np.pi * (n + 0.5) / (2 * BLOCK))
    side = GRID // BLOCK
    rows = np.zeros((side, FREQUENCIES, GRID))
    for block in range(side):
        for k in range(FREQUENCIES):
            basis = np.sqrt(2 / BLOCK) * window * np.cos(np.pi / BLOCK * (n + 0.5 + BLOCK / 2) * (k + 0.5))
            rows[block, k, (block * BLOCK + n) % GRID] += basis
    return rows.reshape(side * FREQUENCIES, GRID)


def _cells_of(grid: F32) -> F64:
    """Grid -> cells, (BLOCKS, CELLS_PER_BLOCK)."""
    lapped = _lapped()
    side = GRID // BLOCK
    coefficients = lapped @ grid.astype(np.float64) @ lapped.T
    blocks = coefficients.reshape(side, FREQUENCIES, side, FREQUENCIES).transpose(0, 2, 1, 3)
    return blocks.reshape(BLOCKS, FREQUENCIES * FREQUENCIES)[:, 1:]


def _grid_of(cells: F64) -> F32:
    """Cells -> the grid image they make (the transpose of :func:`_cells_of`, its inverse on its range)."""
    side = GRID // BLOCK
    blocks = np.zeros((BLOCKS, FREQUENCIES * FREQUENCIES))
    blocks[:, 1:] = cells
    coefficients = blocks.reshape(side, side, FREQUENCIES, FREQUENCIES).transpose(0, 2, 1, 3)
    lapped = _lapped()
    grid = lapped.T @ coefficients.reshape(side * FREQUENCIES, side * FREQUENCIES) @ lapped
    return grid.astype(np.float32)


def _rgb(image: Image.Image) -> F32:
    return np.asarray(image.convert("RGB"), dtype=np.float32)


def _luma(rgb: F32) -> F32:
    return np.asarray(rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114, dtype=np.float32)


def _resize(plane: F32, width: int, height: int) -> F32:
    shrinking = width <= plane.shape[1] and height <= plane.shape[0]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(plane, (width, height), interpolation=interpolation), dtype=np.float32)


def _read_cells(rgb: F32, key: bytes) -> F64:
    """The cells of a picture, arranged as (CODE_BITS, REPEATS) for ``key``."""
    cells = _cells_of(_resize(_luma(rgb), GRID, GRID)).reshape(-1)
    return cells[_layout(key).cells]


def _correction(delta: F64, key: bytes) -> F32:
    cells = np.zeros(CELLS)
    cells[_layout(key).cells.reshape(-1)] = delta.reshape(-1)
    return _grid_of(cells.reshape(BLOCKS, CELLS_PER_BLOCK))


# --- embedding ---------------------------------------------------------------------------------------------


def embed(image: Image.Image, payload: bytes, *, key: bytes = b"") -> Image.Image:
    """A copy of ``image`` (as RGB, same size) carrying ``payload`` (``PAYLOAD_BYTES`` bytes) under ``key``.

    Alpha is not carried over: put it back on the result if the picture needs it.
    """
    if len(payload) != PAYLOAD_BYTES:
        raise InvalidInput(f"a watermark payload is {PAYLOAD_BYTES} bytes, not {len(payload)}")
    if min(image.size) < MIN_SIDE:
        raise InvalidInput(
            f"the image is {image.width}×{image.height} pixels; an invisible watermark needs at least "
            f"{MIN_SIDE}×{MIN_SIDE}"
        )
    rgb = _rgb(image)
    height, width = rgb.shape[:2]
    layout = _layout(key)
    bits = _coded_bits(payload, key).astype(np.float64)[:, None]
    cells = _read_cells(rgb, key)
    offset = layout.dither + bits * STEP / 2
    target = np.round((cells - offset) / STEP) * STEP + offset
    correction = np.zeros((GRID, GRID), np.float32)
    marked = rgb
    for _ in range(EMBED_PASSES):
        # Each pass adds what is still missing, measured on the 8-bit result: rounding, clipping and the
        # enlarge-then-shrink round trip all take a little off.
        correction += _correction(target - cells, key)
        enlarged = _resize(correction, width, height)
        marked = np.clip(np.rint(rgb + enlarged[..., None]), 0, 255)
        cells = _read_cells(marked, key)
    return Image.fromarray(marked.astype(np.uint8), "RGB")


# --- reading -----------------------------------------------------------------------------------------------


def _lattice_fit(values: F64, dither: F64, gains: F64) -> F64:
    """Per gain, how well ``values / gain`` sit on the lattice of either bit (1 = exactly, ~0 = randomly)."""
    half = STEP / 2
    return np.asarray(
        np.cos(2 * np.pi * (values[None, :] / gains[:, None] - dither[None, :]) / half).mean(axis=1)
    )


def _soft_bits(cells: F64, key: bytes) -> F64:
    """Each coded bit's weighted vote, positive for 0 and negative for 1, after fitting the gains."""
    layout = _layout(key)
    half = STEP / 2
    fit = _lattice_fit(cells.reshape(-1), layout.dither.reshape(-1), COARSE_GAINS)
    frequency = (layout.cells % CELLS_PER_BLOCK).reshape(-1)
    block = (layout.cells // CELLS_PER_BLOCK).reshape(-1)
    frequency_gain = np.full(CELLS_PER_BLOCK, COARSE_GAINS[int(np.argmax(fit))])
    block_gain = np.ones(BLOCKS)
    flat_cells, flat_dither = cells.reshape(-1), layout.dither.reshape(-1)
    votes = np.zeros(CODE_BITS)
    for round_ in range(GAIN_ROUNDS + 1):
        gain = frequency_gain[frequency] * block_gain[block]
        position = (flat_cells / gain - flat_dither) / half  # even: bit 0, odd: bit 1
        on_lattice = np.cos(2 * np.pi * position)
        sums = np.bincount(block, weights=on_lattice, minlength=BLOCKS)
        counts = np.maximum(np.bincount(block, minlength=BLOCKS), 1)
        weight = np.clip(sums / counts, 0, 1) ** 2  # a damaged block's cells fit at random: about 0
        votes = (weight[block] * np.cos(np.pi * position)).reshape(CODE_BITS, REPEATS).sum(axis=1)
        if round_ == GAIN_ROUNDS:
            break
        # Decision-directed: the lattice point of the bit each cell now votes for is what the cell should
        # read, up to the gains; fit them by least squares, per frequency and then per block.
        decided = np.repeat((votes < 0).astype(np.float64), REPEATS)
        offset = flat_dither + decided * half
        expected = np.round((flat_cells / gain - offset) / STEP) * STEP + offset
        weights = weight[block]
        numerator = np.bincount(
            frequency, weights=weights * flat_cells * expected / block_gain[block], minlength=CELLS_PER_BLOCK
        )
        denominator = np.bincount(frequency, weights=weights * expected * expected, minlength=CELLS_PER_BLOCK)
        frequency_gain = np.where(
            denominator > 1e-9, numerator / np.maximum(denominator, 1e-9), frequency_gain
        )
        base = frequency_gain[frequency]
        numerator = np.bincount(block, weights=flat_cells * expected / base, minlength=BLOCKS)
        denominator = np.bincount(block, weights=expected * expected, minlength=BLOCKS)
        prior = BLOCK_GAIN_PRIOR * STEP * STEP
        block_gain = (numerator + prior) / (denominator + prior)
    return np.asarray(votes, dtype=np.float64)


def _decode(cells: F64, key: bytes) -> Detection | None:
    """Decode the soft bits of ``cells``; a Detection if the code and the check agree, else None."""
    votes = _soft_bits(cells, key)
    received = np.packbits((votes < 0).astype(np.uint8) ^ _layout(key).mask).tobytes()
    reliability = np.abs(votes).reshape(CODE_BYTES, 8).min(axis=1)
    order = [int(i) for i in np.argsort(reliability, kind="stable")]
    for erasures in ERASURES:
        erased = order[:erasures]
        try:
            message, codeword, _ = _codec().decode(received, erase_pos=erased or None)
        except reedsolo.ReedSolomonError:
            continue
        payload, check = bytes(message[:PAYLOAD_BYTES]), bytes(message[PAYLOAD_BYTES:])
        if not hmac.compare_digest(check, _check(payload, key)):
            continue
        changed = [i for i in range(CODE_BYTES) if codeword[i] != received[i]]
        errors = len(set(changed) - set(erased))
        used = 2 * errors + len(erased)
        return Detection(
            found=True,
            payload=payload,
            confidence=max(0.0, 1.0 - used / PARITY_BYTES),
            corrected=len(changed),
            resynced=False,
            transform=None,
        )
    return None


def detect(image: Image.Image, *, original: Image.Image | None = None, key: bytes = b"") -> Detection:
    """Read the mark of ``key`` in ``image``; with ``original`` (the unmarked picture it was made from),
    re-sync the suspect against it when the plain read finds nothing."""
    suspect = _rgb(image)
    found = _decode(_read_cells(suspect, key), key)
    if found is not None:
        return found
    if original is None:
        return _MISSED
    reference = _rgb(original)
    transform: dict[str, float] | None = None
    for alignment in resync.align(suspect, reference):
        restored, fitted = resync.restore(suspect, reference, alignment)
        transform = transform or fitted  # a miss reports the best alignment
        found = _decode(_read_cells(restored, key), key)
        if found is not None:
            return Detection(
                found=True,
                payload=found.payload,
                confidence=found.confidence,
                corrected=found.corrected,
                resynced=True,
                transform=fitted,
            )
    return Detection(
        found=False, payload=None, confidence=0.0, corrected=0, resynced=True, transform=transform
    )


def psnr(a: Image.Image, b: Image.Image) -> float:
    """Peak signal-to-noise ratio between two same-sized pictures, over R, G and B, in dB (inf if equal)."""
    if a.size != b.size:
        raise InvalidInput(
            f"PSNR needs pictures of one size, not {a.width}×{a.height} and {b.width}×{b.height}"
        )
    mse = float(np.mean((_rgb(a) - _rgb(b)) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))
