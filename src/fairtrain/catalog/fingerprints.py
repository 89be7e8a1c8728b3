"""Perceptual and content fingerprints of a creator's catalogue, to find exact and near duplicates.

Images get pHash-64 and dHash-64 (imagehash) for matching and PDQ-256 for exchange with other platforms; text
gets a MinHash of word 3-grams; audio gets a Chromaprint. The thresholds and the robustness they buy were
measured on real photos (STANDARDS.md §10): pHash survives JPEG 50, resizing and brightness changes but only
about half of 10 % crops, so crops need a tiling scheme on top of this module.

Chromaprint needs the C library (Debian ``libchromaprint1``). Without it :func:`audio_fingerprint` returns
``None`` and the caller records that the fingerprint is unavailable; nothing else depends on it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import itertools
import re
import types
import unicodedata
import wave
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

import imagehash
import numpy as np
import numpy.typing as npt
import pdqhash  # type: ignore[import-untyped]
from datasketch import LeanMinHash, MinHash, MinHashLSH  # type: ignore[import-untyped]
from PIL import Image

from fairtrain.catalog.ffmpeg import PCM_RATE, decode_pcm
from fairtrain.errors import FairtrainError

__all__ = [
    "CHROMAPRINT",
    "DHASH64",
    "MINHASH128",
    "PDQ256",
    "PHASH64",
    "THRESHOLDS",
    "ChromaprintUnavailable",
    "Fingerprint",
    "NearDuplicateIndex",
    "audio_fingerprint",
    "chromaprint_available",
    "chromaprint_bit_error",
    "hamming",
    "image_fingerprints",
    "is_near",
    "minhash_similarity",
    "text_fingerprint",
]

PHASH64: Final = "phash64"
DHASH64: Final = "dhash64"
PDQ256: Final = "pdq256"
MINHASH128: Final = "minhash128"
CHROMAPRINT: Final = "chromaprint"

#: Hamming distance <= for the hex hashes; similarity >= for MinHash; bit error <= for Chromaprint.
THRESHOLDS: Final[Mapping[str, float]] = types.MappingProxyType(
    {PHASH64: 10, DHASH64: 10, PDQ256: 31, MINHASH128: 0.5, CHROMAPRINT: 0.15}
)

_HEX_LENGTHS: Final = {PHASH64: 16, DHASH64: 16, PDQ256: 64}
_HASH_MAX_SIDE: Final = 512
_NUM_PERM: Final = 128
_MINHASH_SEED: Final = 1
# Pinned, not left to datasketch's default: stored values are only comparable with values made by the same
# scheme, and affine64 is the scheme whose state is 64-bit (the documented storage format).
_MINHASH_SCHEME: Final = "affine64"
_SHINGLE: Final = 3
_WORD = re.compile(r"\w+")


class ChromaprintUnavailable(FairtrainError):
    """Chromaprint fingerprints cannot be compared because libchromaprint is not installed."""

    status_code = 503
    code = "chromaprint_unavailable"


@dataclass(frozen=True)
class Fingerprint:
    """One fingerprint of one asset.

    ``value`` is 16 hex digits for pHash/dHash, 64 for PDQ, the base64 of the 128 little-endian uint64 MinHash
    values, or Chromaprint's own compressed base64 string. ``quality`` is PDQ's 0-100 quality (below ~50 the
    image is too flat for the hash to mean much) and ``None`` for the others.
    """

    algorithm: str
    value: str
    quality: int | None = None

    def __post_init__(self) -> None:
        if self.algorithm not in THRESHOLDS:
            raise ValueError(f"unknown fingerprint algorithm {self.algorithm!r}")
        length = _HEX_LENGTHS.get(self.algorithm)
        if length is not None and (len(self.value) != length or not _is_hex(self.value)):
            raise ValueError(f"{self.algorithm} value must be {length} hex digits, got {self.value!r}")


# --- images -------------------------------------------------------------------------------------------------


def image_fingerprints(image: Image.Image) -> list[Fingerprint]:
    """pHash-64, dHash-64 and PDQ-256 of ``image`` (transparent areas are flattened onto white first).

    The caller applies EXIF orientation if it wants it; a rotated copy hashes differently.
    """
    if not (image.width and image.height):
        raise ValueError("cannot fingerprint an empty image")
    # All three hashes downsample to 64x64 or less themselves. Shrinking once to 512 px with a box filter
    # first makes the lot ~3x faster (~120 vs ~40 images/s at 1.5 MP) and moved pHash by at most 2 bits and
    # PDQ by at most 6 against hashing the full image, well inside the thresholds.
    small = _shrink(_flatten_to_rgb(image), _HASH_MAX_SIDE)
    phash = str(imagehash.phash(small, hash_size=8))
    dhash = str(imagehash.dhash(small, hash_size=8))
    bits, quality = pdqhash.compute(np.asarray(small, dtype=np.uint8))
    # pdqhash lists bit 255 first, so packing MSB-first gives the canonical PDQ hex of ThreatExchange.
    pdq = np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()
    return [
        Fingerprint(PHASH64, phash),
        Fingerprint(DHASH64, dhash),
        Fingerprint(PDQ256, pdq, quality=int(quality)),
    ]


def _shrink(image: Image.Image, max_side: int) -> Image.Image:
    scale = max_side / max(image.size)
    if scale >= 1:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BOX)


def _flatten_to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA", "P", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


# --- text ---------------------------------------------------------------------------------------------------


def text_fingerprint(text: str) -> Fingerprint | None:
    """MinHash (128 permutations, seed 1) of the word 3-grams of ``text``; ``None`` below three words.

    Words are ``\\w+`` runs of the NFKC-normalised, casefolded text, so case, punctuation, spacing and
    full-width or ligature forms do not change the fingerprint.
    """
    words = _WORD.findall(unicodedata.normalize("NFKC", text).casefold())
    if len(words) < _SHINGLE:
        return None
    shingles = {" ".join(words[i : i + _SHINGLE]) for i in range(len(words) - _SHINGLE + 1)}
    minhash = _empty_minhash().copy()
    minhash.update_batch([s.encode("utf-8") for s in shingles])
    values = np.asarray(minhash.hashvalues, dtype="<u8")
    return Fingerprint(MINHASH128, base64.b64encode(values.tobytes()).decode("ascii"))


@functools.cache
def _empty_minhash() -> MinHash:
    # Generating the 128 permutations costs more than hashing a short passage; make them once.
    return MinHash(num_perm=_NUM_PERM, seed=_MINHASH_SEED, scheme=_MINHASH_SCHEME)


def _minhash_values(value: str) -> npt.NDArray[np.uint64]:
    try:
        raw = base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"not a {MINHASH128} value: {exc}") from exc
    if len(raw) != _NUM_PERM * 8:
        raise ValueError(f"a {MINHASH128} value holds {_NUM_PERM * 8} bytes, got {len(raw)}")
    return np.frombuffer(raw, dtype="<u8").astype(np.uint64)


def minhash_similarity(a: str, b: str) -> float:
    """Estimated Jaccard similarity of the shingle sets behind two ``minhash128`` values."""
    return float(np.mean(_minhash_values(a) == _minhash_values(b)))


# --- audio --------------------------------------------------------------------------------------------------


@functools.cache
def _load_chromaprint() -> types.ModuleType | None:
    # pyacoustid's ctypes wrapper, imported directly: `acoustid` itself would also import `requests` for its
    # web-service client, which fingerprinting never uses. The wrapper raises ImportError when the shared
    # library is missing; OSError covers a library that is present but cannot be loaded.
    try:
        import chromaprint  # type: ignore[import-untyped]
    except (ImportError, OSError):
        return None
    module: types.ModuleType = chromaprint
    return module


def chromaprint_available() -> bool:
    """Whether libchromaprint is installed, so audio can be fingerprinted and compared."""
    return _load_chromaprint() is not None


def audio_fingerprint(path: Path, *, max_seconds: int = 120) -> Fingerprint | None:
    """Chromaprint of the first ``max_seconds`` of an audio file.

    PCM WAV (8/16/24/32-bit, any channel count) is read with the standard library; anything else (MP3, FLAC,
    Ogg, M4A, float WAV) is decoded by ffmpeg when it is installed. Returns ``None`` when there is no
    fingerprint to be had (no libchromaprint, no decoder, or undecodable audio): the import records the
    file without one rather than failing it.
    """
    if max_seconds <= 0:
        raise ValueError("max_seconds must be positive")
    chromaprint = _load_chromaprint()
    if chromaprint is None:
        return None
    try:
        with wave.open(str(path), "rb") as wav:
            rate, channels, width = wav.getframerate(), wav.getnchannels(), wav.getsampwidth()
            if width not in (1, 2, 3, 4) or channels < 1 or rate < 1:
                return None
            fingerprinter = chromaprint.Fingerprinter()
            fingerprinter.start(rate, channels)
            for block in _pcm_blocks(wav, max_frames=rate * max_seconds):
                fingerprinter.feed(_to_int16(block, width))
            encoded: bytes = fingerprinter.finish()
    except (wave.Error, EOFError):
        return _fingerprint_decoded(chromaprint, path, max_seconds=max_seconds)
    except chromaprint.FingerprintError:
        return None
    return Fingerprint(CHROMAPRINT, encoded.decode("ascii"))


def _fingerprint_decoded(
    chromaprint: types.ModuleType, path: Path, *, max_seconds: int
) -> Fingerprint | None:
    pcm = decode_pcm(path, max_seconds=max_seconds)
    if not pcm:
        return None
    try:
        fingerprinter = chromaprint.Fingerprinter()
        fingerprinter.start(PCM_RATE, 1)
        fingerprinter.feed(pcm[: len(pcm) // 2 * 2])
        encoded: bytes = fingerprinter.finish()
    except chromaprint.FingerprintError:
        return None
    return Fingerprint(CHROMAPRINT, encoded.decode("ascii"))


def _pcm_blocks(wav: wave.Wave_read, *, max_frames: int, block_frames: int = 65536) -> Iterator[bytes]:
    remaining = max_frames
    while remaining > 0:
        block = wav.readframes(min(block_frames, remaining))
        if not block:
            return
        remaining -= block_frames
        yield block


def _to_int16(block: bytes, width: int) -> bytes:
    """Native-endian signed 16-bit samples, which is what chromaprint_feed expects."""
    if width == 1:  # WAV stores 8-bit audio unsigned
        samples = (np.frombuffer(block, dtype=np.uint8).astype(np.int16) - 128) << 8
    elif width == 2:
        samples = np.frombuffer(block, dtype="<i2").astype(np.int16)
    elif width == 3:  # keep the two most significant bytes of each little-endian 24-bit sample
        triples = np.frombuffer(block[: len(block) // 3 * 3], dtype=np.uint8).reshape(-1, 3)
        samples = triples[:, 1:].copy().view("<i2").reshape(-1).astype(np.int16)
    else:
        samples = (np.frombuffer(block, dtype="<i4") >> 16).astype(np.int16)
    return samples.tobytes()


def _decode_chromaprint(value: str) -> tuple[npt.NDArray[np.uint32], int]:
    chromaprint = _load_chromaprint()
    if chromaprint is None:
        raise ChromaprintUnavailable("comparing audio fingerprints needs libchromaprint (libchromaprint1)")
    try:
        frames, version = chromaprint.decode_fingerprint(value.encode("ascii"))
    except (chromaprint.FingerprintError, UnicodeEncodeError) as exc:
        raise ValueError(f"not a {CHROMAPRINT} value") from exc
    return np.asarray(frames, dtype=np.uint32), int(version)


def chromaprint_bit_error(a: str, b: str) -> float:
    """Fraction of differing bits between two Chromaprints, aligned at their starts.

    Only the overlap is compared, so a copy trimmed at the end still matches; a copy trimmed at the start
    does not (no offset search). Returns 1.0 when either fingerprint is empty.
    """
    frames_a, version_a = _decode_chromaprint(a)
    frames_b, version_b = _decode_chromaprint(b)
    if version_a != version_b:
        raise ValueError(f"chromaprint algorithms differ ({version_a} and {version_b})")
    return _frame_bit_error(frames_a, frames_b)


def _frame_bit_error(a: npt.NDArray[np.uint32], b: npt.NDArray[np.uint32]) -> float:
    overlap = min(len(a), len(b))
    if overlap == 0:
        return 1.0
    differing = int(np.bitwise_count(a[:overlap] ^ b[:overlap]).sum())
    return differing / (overlap * 32)


# --- comparing ----------------------------------------------------------------------------------------------


def _is_hex(value: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in value)


def hamming(a_hex: str, b_hex: str) -> int:
    """Number of differing bits between two hex hashes of the same length."""
    if len(a_hex) != len(b_hex):
        raise ValueError(f"hashes differ in length ({len(a_hex)} and {len(b_hex)} hex digits)")
    if not (a_hex and _is_hex(a_hex) and _is_hex(b_hex)):
        raise ValueError("hashes must be non-empty hex strings")
    return (int(a_hex, 16) ^ int(b_hex, 16)).bit_count()


def is_near(a: Fingerprint, b: Fingerprint) -> bool:
    """Whether two fingerprints of the same algorithm are within :data:`THRESHOLDS` of each other."""
    if a.algorithm != b.algorithm:
        raise ValueError(f"cannot compare {a.algorithm} with {b.algorithm}")
    threshold = THRESHOLDS[a.algorithm]
    if a.algorithm == MINHASH128:
        return minhash_similarity(a.value, b.value) >= threshold
    if a.algorithm == CHROMAPRINT:
        return chromaprint_bit_error(a.value, b.value) <= threshold
    return hamming(a.value, b.value) <= threshold


# --- index --------------------------------------------------------------------------------------------------


class _MultiIndexHash64:
    """Exact radius search over 64-bit hashes by multi-index hashing (Norouzi et al., CVPR 2012).

    The hash is cut into four 16-bit chunks, each with its own table. If two hashes are within distance t,
    by pigeonhole at least one chunk differs in at most floor(t / 4) bits, so probing every chunk value within
    that radius (1 + 16 + 120 = 137 probes per chunk for t = 10) finds every true neighbour; candidates are
    then verified with the full distance. Exact-match chunks (11 chunks of <= 6 bits) would also be correct
    but put ~1/64 of the catalogue in every bucket; 16-bit chunks keep buckets near-empty at 100k hashes.
    """

    _CHUNKS: Final = 4
    _CHUNK_BITS: Final = 16

    def __init__(self, threshold: int) -> None:
        self._threshold = threshold
        radius = threshold // self._CHUNKS
        self._masks = [
            sum(1 << bit for bit in bits)
            for r in range(radius + 1)
            for bits in itertools.combinations(range(self._CHUNK_BITS), r)
        ]
        self._tables: list[dict[int, list[int]]] = [{} for _ in range(self._CHUNKS)]
        self._hashes: list[int] = []
        self._keys: list[str] = []

    def _chunks(self, value: int) -> list[int]:
        mask = (1 << self._CHUNK_BITS) - 1
        return [(value >> (i * self._CHUNK_BITS)) & mask for i in range(self._CHUNKS)]

    def add(self, key: str, value: str) -> None:
        self._add(key, int(value, 16))

    def _add(self, key: str, value: int) -> None:
        slot = len(self._hashes)
        self._hashes.append(value)
        self._keys.append(key)
        for table, chunk in zip(self._tables, self._chunks(value), strict=True):
            table.setdefault(chunk, []).append(slot)

    def query(self, value: str) -> list[tuple[str, float]]:
        return self._query(int(value, 16))

    def _query(self, value: int) -> list[tuple[str, float]]:
        candidates: set[int] = set()
        for table, chunk in zip(self._tables, self._chunks(value), strict=True):
            for mask in self._masks:
                slots = table.get(chunk ^ mask)
                if slots:
                    candidates.update(slots)
        found = []
        for slot in candidates:
            distance = (self._hashes[slot] ^ value).bit_count()
            if distance <= self._threshold:
                found.append((self._keys[slot], float(distance)))
        return found


class _LinearBits:
    """Brute-force bit distance over fixed-width hashes (PDQ), vectorised: 100k x 256 bits in milliseconds."""

    def __init__(self, threshold: float, n_bytes: int) -> None:
        self._threshold = threshold
        self._n_bytes = n_bytes
        self._rows: list[npt.NDArray[np.uint8]] = []
        self._matrix: npt.NDArray[np.uint8] = np.zeros((0, n_bytes), dtype=np.uint8)
        self._keys: list[str] = []

    def add(self, key: str, value: str) -> None:
        self._rows.append(np.frombuffer(bytes.fromhex(value), dtype=np.uint8).reshape(1, self._n_bytes))
        self._keys.append(key)

    def query(self, value: str) -> list[tuple[str, float]]:
        row = np.frombuffer(bytes.fromhex(value), dtype=np.uint8)
        if len(self._rows) != len(self._matrix):  # stack lazily: adds are cheap, the first query pays once
            self._matrix = np.vstack([self._matrix, *self._rows[len(self._matrix) :]])
        if not len(self._matrix):
            return []
        distances = np.bitwise_count(self._matrix ^ row).sum(axis=1)
        hits = np.flatnonzero(distances <= self._threshold)
        return [(self._keys[i], float(distances[i])) for i in hits]


class _LinearChromaprint:
    """Brute-force bit error over decoded Chromaprints; fine for a single creator's audio (thousands)."""

    def __init__(self, threshold: float) -> None:
        self._threshold = threshold
        self._items: list[tuple[str, npt.NDArray[np.uint32], int]] = []

    def add(self, key: str, value: str) -> None:
        frames, version = _decode_chromaprint(value)
        self._items.append((key, frames, version))

    def query(self, value: str) -> list[tuple[str, float]]:
        frames, version = _decode_chromaprint(value)
        found = []
        for key, other, other_version in self._items:
            if other_version == version:
                error = _frame_bit_error(frames, other)
                if error <= self._threshold:
                    found.append((key, error))
        return found


class _MinHashIndex:
    """datasketch's banded LSH for candidates, then the estimated similarity to keep only true matches.

    LSH is probabilistic: a pair just above the threshold is found with probability ~0.5-0.9; at 5 % edits
    (similarity ~0.75) recall was 0.98 in §10.
    """

    def __init__(self, threshold: float) -> None:
        self._threshold = threshold
        self._lsh = MinHashLSH(threshold=threshold, num_perm=_NUM_PERM)
        self._values: dict[str, npt.NDArray[np.uint64]] = {}

    def _lean(self, values: npt.NDArray[np.uint64]) -> LeanMinHash:
        return LeanMinHash(seed=_MINHASH_SEED, hashvalues=values, scheme=_MINHASH_SCHEME)

    def add(self, key: str, value: str) -> None:
        values = _minhash_values(value)
        self._lsh.insert(key, self._lean(values))
        self._values[key] = values

    def query(self, value: str) -> list[tuple[str, float]]:
        values = _minhash_values(value)
        found = []
        for key in self._lsh.query(self._lean(values)):
            similarity = float(np.mean(self._values[key] == values))
            if similarity >= self._threshold:
                found.append((key, similarity))
        return found


class _SubIndex(Protocol):
    def add(self, key: str, value: str) -> None: ...

    def query(self, value: str) -> list[tuple[str, float]]: ...


def _new_subindex(algorithm: str) -> _SubIndex:
    threshold = THRESHOLDS[algorithm]
    if algorithm in (PHASH64, DHASH64):
        return _MultiIndexHash64(int(threshold))
    if algorithm == PDQ256:
        return _LinearBits(threshold, n_bytes=32)
    if algorithm == MINHASH128:
        return _MinHashIndex(threshold)
    return _LinearChromaprint(threshold)


class NearDuplicateIndex:
    """In-memory near-duplicate search within one catalogue, one sub-index per algorithm.

    pHash/dHash use exact multi-index hashing, MinHash uses LSH (probabilistic, see :class:`_MinHashIndex`),
    and PDQ and Chromaprint are scanned linearly (vectorised for PDQ). A key may hold one fingerprint per
    algorithm; :meth:`query` returns every indexed key within :data:`THRESHOLDS`, including exact copies.
    Measured with 100k random pHashes: 0.55 s to add them all, 0.36 ms per query; PDQ 3.3 ms per query.
    """

    def __init__(self) -> None:
        self._indexes: dict[str, _SubIndex] = {}  # made on first use: MinHashLSH setup alone takes ~10 ms
        self._seen: set[tuple[str, str]] = set()

    def __len__(self) -> int:
        return len(self._seen)

    def add(self, key: str, fp: Fingerprint) -> None:
        """Index ``fp`` under ``key``; a key holds at most one fingerprint per algorithm."""
        if (key, fp.algorithm) in self._seen:
            raise ValueError(f"{key!r} already has a {fp.algorithm} fingerprint in this index")
        if fp.algorithm not in self._indexes:
            self._indexes[fp.algorithm] = _new_subindex(fp.algorithm)
        self._indexes[fp.algorithm].add(key, fp.value)
        self._seen.add((key, fp.algorithm))

    def query(self, fp: Fingerprint) -> list[tuple[str, float]]:
        """Keys near ``fp`` with their distance (similarity for MinHash), best first, ties by key."""
        index = self._indexes.get(fp.algorithm)
        if index is None:
            return []
        found = index.query(fp.value)
        if fp.algorithm == MINHASH128:
            return sorted(found, key=lambda hit: (-hit[1], hit[0]))
        return sorted(found, key=lambda hit: (hit[1], hit[0]))
