"""Verify a suspect file: whose work is it, and what does it say about AI use?

Reports, each independently (a stripped copy may keep only its pixels):

- the invisible watermark: payload -> asset -> creator. "No watermark" is decided by the error-correcting
  code failing, never by a guess. When the plain decode fails, the nearest catalogue images (by pHash, even
  beyond the duplicate threshold, since the ECC check makes a wrong candidate harmless) are tried as the
  original to re-sync against: that recovers crops, rescales and brightness changes;
- the C2PA manifest: absent / invalid / valid / trusted (against this installation's roots), assertions;
- the XMP rights fields (creator, copyright, IPTC data mining, web statement, fairtrain's asset id);
- text canaries (zero-width and plain) -> asset;
- the nearest catalogue fingerprints (pHash for images, MinHash for text).
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps
from sqlalchemy import select
from sqlalchemy.orm import Session

from fairtrain.catalog.fingerprints import (
    MINHASH128,
    PHASH64,
    image_fingerprints,
    minhash_similarity,
    text_fingerprint,
)
from fairtrain.catalog.models import Asset, AssetFingerprint
from fairtrain.catalog.probe import DOCX_MIME, MediaError, probe_bytes
from fairtrain.errors import FairtrainError, InvalidInput
from fairtrain.stamp import canary, provenance, watermark
from fairtrain.stamp.models import ProtectedFile
from fairtrain.stamp.service import (
    OriginalMissing,
    ProtectionContext,
    load_original_image,
    unpack_asset_id,
)
from fairtrain.stamp.xmp import RightsInfo, extract_packet, parse_packet

__all__ = ["AssetRef", "CanaryFinding", "Match", "VerifyReport", "WatermarkFinding", "verify_bytes"]

# Images tried as the original to re-sync against, nearest first.
RESYNC_CANDIDATES = 4
# pHash distance up to which a catalogue image is worth a re-sync attempt (unrelated images sit >= 20 away,
# but a 10 % crop moves pHash by ~10 on average; the ECC check rejects wrong candidates).
RESYNC_MAX_DISTANCE = 26
MATCHES_SHOWN = 5
PHASH_MATCH = 10  # the catalogue's near-duplicate threshold (STANDARDS §10)
MINHASH_MATCH = 0.3


@dataclass(frozen=True)
class AssetRef:
    asset_id: str
    title: str
    creator_handle: str
    creator_name: str
    deleted: bool = False


@dataclass(frozen=True)
class WatermarkFinding:
    found: bool
    asset: AssetRef | None = None
    payload_asset_id: str | None = None  # what the mark says, even if this catalogue has no such asset
    confidence: float = 0.0
    corrected: int = 0
    resynced: bool = False
    transform: dict[str, float] | None = None


@dataclass(frozen=True)
class CanaryFinding:
    token: str
    asset: AssetRef | None


@dataclass(frozen=True)
class Match:
    asset: AssetRef
    algorithm: str
    score: float  # bit distance (images) or estimated Jaccard similarity (text)
    near: bool  # within the duplicate threshold


@dataclass
class VerifyReport:
    filename: str
    sha256: str
    size: int
    kind: str
    mime: str
    known_file: AssetRef | None = None  # byte-identical to an original or a protected derivative
    watermark: WatermarkFinding | None = None  # None: not an image
    manifest: provenance.ManifestReport | None = None  # None: a format C2PA is not checked in
    xmp: RightsInfo | None = None
    xmp_error: str | None = None
    canaries: list[CanaryFinding] = field(default_factory=list)
    matches: list[Match] = field(default_factory=list)

    @property
    def asset(self) -> AssetRef | None:
        """The strongest attribution found, in order: exact file, watermark, canary, XMP asset id."""
        if self.known_file:
            return self.known_file
        if self.watermark and self.watermark.asset:
            return self.watermark.asset
        return next((c.asset for c in self.canaries if c.asset), None)


def _ref(asset: Asset) -> AssetRef:
    return AssetRef(
        asset_id=asset.id,
        title=asset.title,
        creator_handle=asset.creator.handle,
        creator_name=asset.creator.display_name,
        deleted=asset.deleted_at is not None,
    )


def _known_file(session: Session, sha256: str) -> AssetRef | None:
    asset = session.scalar(select(Asset).where(Asset.sha256 == sha256).order_by(Asset.imported_at).limit(1))
    if asset is None:
        protected = session.scalar(select(ProtectedFile).where(ProtectedFile.sha256 == sha256).limit(1))
        asset = protected.asset if protected is not None else None
    return _ref(asset) if asset is not None else None


def _open_image(data: bytes, max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > max_pixels:
                    raise InvalidInput(f"the image has more than {max_pixels:,} pixels")
                image.load()
                return ImageOps.exif_transpose(image).convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidInput(f"the image cannot be decoded: {exc}") from None


def _phash_neighbours(session: Session, phash: str) -> list[tuple[str, int]]:
    """Every catalogued image within RESYNC_MAX_DISTANCE of ``phash``, nearest first (a vectorised scan)."""
    rows = session.execute(
        select(AssetFingerprint.asset_id, AssetFingerprint.value)
        .join(Asset, Asset.id == AssetFingerprint.asset_id)
        .where(AssetFingerprint.algorithm == PHASH64, Asset.deleted_at.is_(None))
    ).all()
    if not rows:
        return []
    values = np.array([int(v, 16) for _, v in rows], dtype=np.uint64)
    distances = np.bitwise_count(values ^ np.uint64(int(phash, 16))).astype(np.int64)
    order = np.lexsort((np.arange(len(rows)), distances))
    return [(rows[i][0], int(distances[i])) for i in order if distances[i] <= RESYNC_MAX_DISTANCE]


def _watermark(
    session: Session,
    image: Image.Image,
    neighbours: list[tuple[str, int]],
    context: ProtectionContext,
) -> WatermarkFinding:
    detection = watermark.detect(image, key=context.watermark_key)
    if not detection.found:
        for asset_id, _distance in neighbours[:RESYNC_CANDIDATES]:
            asset = session.get(Asset, asset_id)
            if asset is None:
                continue
            try:
                original = load_original_image(asset, context=context)
            except (OriginalMissing, OSError, ValueError):
                continue
            attempt = watermark.detect(image, original=original, key=context.watermark_key)
            if attempt.found:
                detection = attempt
                break
    if not detection.found or detection.payload is None:
        return WatermarkFinding(found=False)
    asset_id = unpack_asset_id(detection.payload)
    asset = session.get(Asset, asset_id)
    return WatermarkFinding(
        found=True,
        asset=_ref(asset) if asset is not None else None,
        payload_asset_id=asset_id,
        confidence=detection.confidence,
        corrected=detection.corrected,
        resynced=detection.resynced,
        transform=detection.transform,
    )


def _text_of(data: bytes, mime: str, probed: str | None) -> str:
    parts = [probed or ""]
    if mime.startswith("text/"):
        parts.append(data.decode("utf-8", errors="ignore"))
    elif mime == DOCX_MIME:
        import docx

        # The probe already opened it, so this reads; paragraphs keep the zero-width marks in their runs.
        document = docx.Document(io.BytesIO(data))
        parts.append(document.core_properties.identifier or "")
        parts.extend(p.text for p in document.paragraphs)
    return "\n".join(parts)


def _canaries(session: Session, tokens: list[str]) -> list[CanaryFinding]:
    found = []
    for token in tokens:
        protected = session.scalar(select(ProtectedFile).where(ProtectedFile.canary == token).limit(1))
        found.append(CanaryFinding(token, _ref(protected.asset) if protected is not None else None))
    return found


def _text_matches(session: Session, text: str) -> list[Match]:
    fingerprint = text_fingerprint(text)
    if fingerprint is None:
        return []
    rows = session.execute(
        select(AssetFingerprint.asset_id, AssetFingerprint.value)
        .join(Asset, Asset.id == AssetFingerprint.asset_id)
        .where(AssetFingerprint.algorithm == MINHASH128, Asset.deleted_at.is_(None))
    ).all()
    scored = sorted(
        ((minhash_similarity(fingerprint.value, value), asset_id) for asset_id, value in rows),
        key=lambda hit: (-hit[0], hit[1]),
    )
    matches = []
    for score, asset_id in scored[:MATCHES_SHOWN]:
        if score <= 0.05:
            break
        asset = session.get(Asset, asset_id)
        if asset is not None:
            matches.append(Match(_ref(asset), MINHASH128, round(score, 3), score >= MINHASH_MATCH))
    return matches


def verify_bytes(
    session: Session,
    data: bytes,
    *,
    filename: str,
    context: ProtectionContext,
    max_pixels: int = 100_000_000,
) -> VerifyReport:
    """Everything fairtrain can tell about ``data``. Raises ``InvalidInput`` for an unreadable file."""
    if not data:
        raise InvalidInput("the file is empty")
    try:
        probe = probe_bytes(data, filename=filename, max_pixels=max_pixels)
    except MediaError as exc:
        raise InvalidInput(f"{filename or 'the file'}: {exc.message}") from None
    sha256 = hashlib.sha256(data).hexdigest()
    report = VerifyReport(filename=filename, sha256=sha256, size=len(data), kind=probe.kind, mime=probe.mime)
    report.known_file = _known_file(session, sha256)
    packet = extract_packet(data, probe.mime)
    if packet is not None:
        try:
            report.xmp = parse_packet(packet)
        except InvalidInput as exc:
            report.xmp_error = str(exc)
    if probe.mime in provenance.SUPPORTED_MIME:
        try:
            report.manifest = provenance.read(
                data, probe.mime, trust_anchors_pem=context.keyring.trust_anchors_pem()
            )
        except FairtrainError as exc:
            report.manifest = provenance.ManifestReport(
                present=False,
                state="invalid",
                errors=[str(exc)],
                title=None,
                signer=None,
                signed_at=None,
                claim_generator=None,
                training_mining={},
                assertions={},
            )
    if probe.kind == "image":
        image = _open_image(data, max_pixels)
        phash = next(fp.value for fp in image_fingerprints(image) if fp.algorithm == PHASH64)
        neighbours = _phash_neighbours(session, phash)
        report.watermark = _watermark(session, image, neighbours, context)
        for asset_id, distance in neighbours[:MATCHES_SHOWN]:
            asset = session.get(Asset, asset_id)
            if asset is not None:
                report.matches.append(Match(_ref(asset), PHASH64, distance, distance <= PHASH_MATCH))
    elif probe.kind == "text":
        text = _text_of(data, probe.mime, probe.text)
        tokens = canary.find_canaries(text)
        if report.xmp and report.xmp.canary and report.xmp.canary not in tokens:
            tokens.append(report.xmp.canary)
        report.canaries = _canaries(session, tokens)
        report.matches = _text_matches(session, probe.text or text)
    return report
