"""Protecting assets: writing stamped derivatives (originals untouched) and keeping track of them.

For an image, in this order (STANDARDS §10: metadata before the signature, nothing after it):
invisible watermark carrying the asset id -> optional visible watermark -> XMP/IPTC rights -> C2PA manifest
signed with the creator's certificate. For text: licence tags/header and XMP where the format has a place
for them, and a canary. A derivative records a digest of everything it depends on, so ``protect`` only
redoes the stale ones (after a policy, name or settings change) unless forced.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from html import escape
from pathlib import Path

from PIL import Image, ImageOps, PngImagePlugin
from sqlalchemy import select
from sqlalchemy.orm import Session

from fairtrain.accounts.models import CollectiveMembership, CreatorProfile
from fairtrain.catalog.models import Asset, Collection
from fairtrain.catalog.probe import DOCX_MIME
from fairtrain.catalog.service import asset_file
from fairtrain.catalog.store import MediaStore
from fairtrain.config import Settings, load_secret_key
from fairtrain.db.base import utcnow
from fairtrain.errors import FairtrainError, InvalidInput, NotFound
from fairtrain.rights.policy import EffectivePolicy, Scope, effective_policy
from fairtrain.rights.signals import (
    RSL_MEDIA_TYPE,
    content_signal,
    iptc_data_mining,
    training_mining_entries,
)
from fairtrain.stamp import canary, provenance, watermark
from fairtrain.stamp.models import ProtectedFile, StampSettings
from fairtrain.stamp.pki import Keyring, SigningCredentials
from fairtrain.stamp.visible import VisibleMark, apply_visible
from fairtrain.stamp.xmp import RightsInfo, build_packet

__all__ = [
    "IMAGE_MIMES",
    "TEXT_MIMES",
    "Outcome",
    "ProtectionContext",
    "current_protection",
    "get_settings",
    "pack_asset_id",
    "protect_asset",
    "protected_asset_ids",
    "unpack_asset_id",
    "update_settings",
]

IMAGE_MIMES = ("image/jpeg", "image/png", "image/webp", "image/tiff", "image/gif", "image/bmp", "image/heic")
TEXT_MIMES = ("text/html", "text/markdown", "text/plain", "application/pdf", DOCX_MIME)
_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
JPEG_QUALITY = 92
WATERMARK_ALG = "org.fairtrain.watermark.1"


class OriginalMissing(NotFound):
    code = "original_missing"


def pack_asset_id(asset_id: str) -> bytes:
    """``ast_`` + 16 base32 characters (80 bits) -> the watermark's 10-byte payload."""
    body = asset_id.removeprefix("ast_")
    if not asset_id.startswith("ast_") or len(body) != 16 or any(c not in _ID_ALPHABET for c in body):
        raise InvalidInput(f"{asset_id!r} is not an asset id")
    value = 0
    for char in body:
        value = value << 5 | _ID_ALPHABET.index(char)
    return value.to_bytes(watermark.PAYLOAD_BYTES, "big")


def unpack_asset_id(payload: bytes) -> str:
    value = int.from_bytes(payload, "big")
    return "ast_" + "".join(_ID_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(16)))


@dataclass(frozen=True)
class ProtectionContext:
    """What protection needs from the installation: where files live, the keys, the public URL."""

    media_dir: Path
    keys_dir: Path
    secret_key: str
    base_url: str

    @classmethod
    def from_settings(cls, settings: Settings) -> ProtectionContext:
        return cls(
            media_dir=settings.media_dir,
            keys_dir=settings.data_dir / "keys",
            secret_key=load_secret_key(settings),
            base_url=settings.base_url.rstrip("/"),
        )

    def _derive(self, label: str) -> bytes:
        return hmac.new(self.secret_key.encode(), label.encode(), hashlib.sha256).digest()

    @property
    def watermark_key(self) -> bytes:
        return self._derive("fairtrain watermark key")

    @property
    def canary_key(self) -> bytes:
        return self._derive("fairtrain canary key")

    @cached_property
    def keyring(self) -> Keyring:
        return Keyring(self.keys_dir, secret_key=self.secret_key)

    @property
    def store(self) -> MediaStore:
        return MediaStore(self.media_dir)

    def license_url(self, creator: CreatorProfile) -> str:
        return f"{self.base_url}/@{creator.handle}/license.xml"


@dataclass(frozen=True)
class Outcome:
    asset_id: str
    status: str  # protected | unchanged | skipped | failed
    detail: str = ""
    protected: ProtectedFile | None = None


def get_settings(session: Session, creator: CreatorProfile) -> StampSettings:
    row = session.get(StampSettings, creator.id)
    if row is None:
        # Not added to the session: a creator who never saved settings has none stored, only these defaults.
        row = StampSettings(
            creator_id=creator.id,
            visible_enabled=False,
            visible_position="bottom-right",
            visible_opacity=40,
            visible_scale=25,
        )
    return row


def update_settings(
    session: Session,
    *,
    creator: CreatorProfile,
    context: ProtectionContext,
    enabled: bool,
    text: str | None = None,
    logo: bytes | None = None,
    remove_logo: bool = False,
    position: str = "bottom-right",
    opacity: int = 40,
    scale: int = 25,
) -> StampSettings:
    """Validate and save a creator's visible-watermark choices; a logo is stored as PNG in the media store."""
    text = (text or "").strip() or None
    row = session.get(StampSettings, creator.id)
    logo_sha = None if (remove_logo or row is None) else row.visible_logo_sha256
    logo_image = None
    if logo:
        try:
            with Image.open(io.BytesIO(logo)) as opened:
                if opened.width * opened.height > 16_000_000:
                    raise InvalidInput("the logo is larger than 16 megapixels")
                logo_image = opened.convert("RGBA")
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise InvalidInput(f"the logo is not a readable image: {exc}") from None
    elif logo_sha:
        logo_image = _load_logo(context, logo_sha)
    if enabled:
        VisibleMark(text=text, logo=logo_image, position=position, opacity=opacity, scale=scale)  # validates
    if logo_image is not None and logo:
        buffer = io.BytesIO()
        logo_image.save(buffer, "PNG")
        logo_sha, _ = context.store.put_bytes(buffer.getvalue())
    if row is None:
        row = StampSettings(creator_id=creator.id)
        session.add(row)
    row.visible_enabled = enabled
    row.visible_text = text
    row.visible_logo_sha256 = logo_sha
    row.visible_position, row.visible_opacity, row.visible_scale = position, opacity, scale
    session.flush()
    return row


def _load_logo(context: ProtectionContext, sha256: str) -> Image.Image | None:
    path = context.store.path_for(sha256)
    if not path.is_file():
        return None
    with Image.open(path) as logo:
        return logo.convert("RGBA")


def _visible_mark(row: StampSettings, context: ProtectionContext) -> VisibleMark | None:
    if not row.visible_enabled:
        return None
    logo = _load_logo(context, row.visible_logo_sha256) if row.visible_logo_sha256 else None
    if logo is None and not row.visible_text:
        return None
    return VisibleMark(
        text=row.visible_text if logo is None else None,
        logo=logo,
        position=row.visible_position,
        opacity=row.visible_opacity,
        scale=row.visible_scale,
    )


def current_protection(session: Session, asset_id: str) -> ProtectedFile | None:
    return session.scalar(
        select(ProtectedFile).where(ProtectedFile.asset_id == asset_id, ProtectedFile.superseded_at.is_(None))
    )


def _notice(creator: CreatorProfile, asset: Asset) -> str:
    year = (
        asset.published_on or (asset.created_at.date() if asset.created_at else None) or date.today()
    ).year
    return f"© {year} {creator.display_name}. All rights reserved."


def _terms(policy: EffectivePolicy, license_url: str) -> str:
    train = policy.action("ai-train")
    if train == "allow":
        return f"AI use under the terms at {license_url}"
    verb = "prohibited" if train == "deny" else "permitted only under a licence"
    return f"Text and data mining and AI training are {verb}; terms and licences: {license_url}"


def _inputs_digest(
    asset: Asset, creator: CreatorProfile, policy: EffectivePolicy, row: StampSettings | None, signer: str
) -> str:
    facts = {
        "scheme": 1,
        "sha256": asset.sha256,
        "title": asset.title,
        "creator": [creator.handle, creator.display_name],
        "published": str(asset.published_on),
        "policy": {u: d.rule.as_dict() for u, d in sorted(policy.decisions.items())},
        "visible": None
        if row is None
        else [
            row.visible_text,
            row.visible_logo_sha256,
            row.visible_position,
            row.visible_opacity,
            row.visible_scale,
        ],
        "signer": signer,
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()


def _load_upright(path: Path) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # size was checked at import
        with Image.open(path) as image:
            image.load()
            return ImageOps.exif_transpose(image)


def load_original_image(asset: Asset, *, context: ProtectionContext) -> Image.Image:
    """The asset's original, upright, as the watermark saw it (RGB); what verify re-syncs against."""
    path = asset_file(asset, store_root=context.media_dir)
    if path is None:
        raise OriginalMissing(f"the original of {asset.id} is not in the store or at any known path")
    image = _load_upright(path)
    return image.convert("RGB") if image.mode != "RGB" else image


def _protect_image(
    asset: Asset,
    source: Path,
    *,
    info: RightsInfo,
    mark: VisibleMark | None,
    context: ProtectionContext,
    creator: CreatorProfile,
    policy: EffectivePolicy,
    credentials: SigningCredentials,
) -> tuple[bytes, str, list[str]]:
    image = _load_upright(source)
    alpha = image.getchannel("A") if image.mode in ("RGBA", "LA") or "transparency" in image.info else None
    rgb = image.convert("RGB")
    stamped = watermark.embed(rgb, pack_asset_id(asset.id), key=context.watermark_key)
    steps = ["watermark"]
    if mark is not None:
        stamped = apply_visible(stamped, mark)
        steps.append("visible")
    packet = build_packet(info)
    buffer = io.BytesIO()
    if asset.mime == "image/png" or alpha is not None:
        mime = "image/png"
        if alpha is not None:
            stamped = stamped.convert("RGBA")
            stamped.putalpha(alpha.convert("L"))
        png_info = PngImagePlugin.PngInfo()
        png_info.add_itxt("XML:com.adobe.xmp", packet.decode("utf-8"), zip=False)
        stamped.save(buffer, "PNG", pnginfo=png_info, optimize=False)
    else:
        mime = "image/jpeg"
        stamped.save(buffer, "JPEG", quality=JPEG_QUALITY, xmp=packet, subsampling="4:4:4")
    steps.append("xmp")
    signed = provenance.sign(
        buffer.getvalue(),
        mime,
        credentials=credentials,
        title=asset.title,
        author=creator.display_name,
        training_mining=training_mining_entries(policy, license_url=context.license_url(creator)),
        license_url=context.license_url(creator),
        # Ties a stripped copy, found by its watermark, back to this manifest (C2PA soft binding).
        soft_binding=provenance.SoftBinding(WATERMARK_ALG, pack_asset_id(asset.id)),
    )
    steps.append("c2pa")
    return signed, mime, steps


def _head_tags(policy: EffectivePolicy, license_url: str, info: RightsInfo) -> str:
    train = policy.action("ai-train")
    tags = [
        f'<link rel="license" type="{RSL_MEDIA_TYPE}" href="{escape(license_url)}">',
        f'<meta name="tdm-reservation" content="{0 if train == "allow" else 1}">',
        f'<meta name="content-signal" content="{escape(content_signal(policy))}">',
        f'<meta name="author" content="{escape(info.creator or "")}">',
        f'<meta name="copyright" content="{escape(info.copyright_notice or "")}">',
    ]
    noai = {"deny": "noai, noimageai", "licence": "noai"}.get(train)
    if noai:
        tags.append(f'<meta name="robots" content="{noai}">')
    return "".join(tag + "\n" for tag in tags)


def _protect_text(
    asset: Asset, source: Path, *, info: RightsInfo, token: str, policy: EffectivePolicy, license_url: str
) -> tuple[bytes, str, list[str]]:
    data = source.read_bytes()
    if asset.mime == "text/html":
        return (
            canary.mark_html(data, token, head=_head_tags(policy, license_url, info)),
            asset.mime,
            [
                "meta",
                "canary",
            ],
        )
    if asset.mime in ("text/markdown", "text/plain"):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
        header = None
        if asset.mime == "text/markdown":
            header = f"<!-- {info.copyright_notice} License: {license_url} AI: {content_signal(policy)} -->\n"
        return (
            canary.mark_plain(text, token, header=header).encode("utf-8"),
            asset.mime,
            (["meta", "canary"] if header else ["canary"]),
        )
    if asset.mime == "application/pdf":
        return _protect_pdf(data, info), asset.mime, ["xmp", "canary"]
    if asset.mime == DOCX_MIME:
        rights = f"{info.copyright_notice} {info.usage_terms}"
        marked = canary.mark_docx(
            data, token, title=asset.title, creator=info.creator or "", rights=rights.strip()
        )
        return marked, asset.mime, ["meta", "canary"]
    raise InvalidInput(f"cannot protect {asset.mime} files")


def _protect_pdf(data: bytes, info: RightsInfo) -> bytes:
    from pypdf import PdfReader, PdfWriter
    from pypdf.errors import PyPdfError

    try:
        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    except (PyPdfError, ValueError, KeyError, OSError) as exc:
        raise InvalidInput(f"not a readable PDF: {exc}") from None
    if writer.is_encrypted:
        raise InvalidInput("the PDF is encrypted; fairtrain cannot add rights metadata to it")
    writer.add_metadata(
        {
            "/Author": info.creator or "",
            "/Copyright": info.copyright_notice or "",
            "/Rights": info.usage_terms or "",
            "/Identifier": info.canary or "",
        }
    )
    writer.xmp_metadata = build_packet(info)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def protect_asset(
    session: Session, *, asset: Asset, context: ProtectionContext, force: bool = False
) -> Outcome:
    """Make (or keep) the current protected derivative of ``asset``; bad or missing files are reported in the
    outcome, never half-written. Commits nothing: the caller's transaction holds the row."""
    if asset.deleted_at is not None:
        return Outcome(asset.id, "skipped", "the asset is deleted")
    if asset.mime not in IMAGE_MIMES + TEXT_MIMES:
        return Outcome(asset.id, "skipped", f"{asset.kind} files ({asset.mime}) have no protected form yet")
    creator = asset.creator
    policy = effective_policy(session, asset=asset)
    row = get_settings(session, creator)
    mark = _visible_mark(row, context) if asset.kind == "image" else None
    license_url = context.license_url(creator)
    credentials = None
    if asset.mime in IMAGE_MIMES:
        credentials = context.keyring.credentials_for(
            creator_id=creator.id, display_name=creator.display_name, handle=creator.handle
        )
    # The certificate itself, not its subject: a rotated key must re-sign.
    signer_id = hashlib.sha256(credentials.chain_pem).hexdigest() if credentials else ""
    digest = _inputs_digest(asset, creator, policy, row if mark is not None else None, signer_id)
    current = current_protection(session, asset.id)
    fresh = current is not None and current.inputs_digest == digest and context.store.has(current.sha256)
    if fresh and not force:
        return Outcome(asset.id, "unchanged", "", current)
    source = asset_file(asset, store_root=context.media_dir)
    if source is None:
        return Outcome(asset.id, "failed", "the original is not in the store or at any known path")
    data_mining, constraints = iptc_data_mining(policy)
    token = canary.canary_token(asset.id, key=context.canary_key)
    info = RightsInfo(
        title=asset.title,
        creator=creator.display_name,
        copyright_notice=_notice(creator, asset),
        web_statement=license_url,
        usage_terms=_terms(policy, license_url),
        data_mining=data_mining,
        other_constraints=constraints,
        credit=f"{creator.display_name} (@{creator.handle})",
        asset_id=asset.id,
        canary=token,
    )
    try:
        if credentials is not None:
            data, mime, steps = _protect_image(
                asset,
                source,
                info=info,
                mark=mark,
                context=context,
                creator=creator,
                policy=policy,
                credentials=credentials,
            )
            token_kept = None
        else:
            data, mime, steps = _protect_text(
                asset, source, info=info, token=token, policy=policy, license_url=license_url
            )
            token_kept = token
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        return Outcome(asset.id, "failed", f"could not read the original: {exc}")
    except FairtrainError as exc:
        return Outcome(asset.id, "failed", str(exc))
    sha256, size = context.store.put_bytes(data)
    if current is not None:
        current.superseded_at = utcnow()
        session.flush()
    protected = ProtectedFile(
        asset_id=asset.id,
        asset_version=asset.version,
        source_sha256=asset.sha256,
        sha256=sha256,
        size=size,
        mime=mime,
        steps=steps,
        inputs_digest=digest,
        canary=token_kept,
        signer=credentials.subject if credentials else None,
    )
    session.add(protected)
    session.flush()
    return Outcome(asset.id, "protected", "", protected)


def assets_to_protect(
    session: Session,
    *,
    creator: CreatorProfile | None = None,
    collection: Collection | None = None,
    asset_ids: Sequence[str] = (),
) -> list[Asset]:
    """The live, protectable assets of a creator, a collection, or an explicit list (unknown ids raise)."""
    if asset_ids:
        found = {a.id: a for a in session.scalars(select(Asset).where(Asset.id.in_(asset_ids)))}
        missing = [a for a in asset_ids if a not in found or found[a].deleted_at is not None]
        if missing:
            raise NotFound(f"no asset {', '.join(missing)}")
        return [found[a] for a in asset_ids]
    query = select(Asset).where(Asset.deleted_at.is_(None), Asset.mime.in_(IMAGE_MIMES + TEXT_MIMES))
    if collection is not None:
        query = query.where(Asset.collections.any(Collection.id == collection.id))
    elif creator is not None:
        query = query.where(Asset.creator_id == creator.id)
    return list(session.scalars(query.order_by(Asset.imported_at, Asset.id)))


def protected_asset_ids(session: Session, *, scope: Scope) -> list[str]:
    """Assets under ``scope`` that have a protected copy: the ones a policy change there makes stale."""
    query = (
        select(Asset.id)
        .join(ProtectedFile, ProtectedFile.asset_id == Asset.id)
        .where(ProtectedFile.superseded_at.is_(None), Asset.deleted_at.is_(None))
    )
    if scope.kind == "asset":
        query = query.where(Asset.id == scope.id)
    elif scope.kind == "collection":
        query = query.where(Asset.collections.any(Collection.id == scope.id))
    elif scope.kind == "creator":
        query = query.where(Asset.creator_id == scope.id)
    elif scope.kind == "collective":
        members = select(CollectiveMembership.creator_id).where(
            CollectiveMembership.collective_id == scope.id, CollectiveMembership.left_at.is_(None)
        )
        query = query.where(Asset.creator_id.in_(members))
    return list(session.scalars(query.order_by(Asset.id)))
