"""C2PA manifests signed with the installation's CA and read back by c2pa itself, on real JPEG/PNG/WebP."""

from __future__ import annotations

import io
import json
import struct
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import c2pa
import pytest
from PIL import Image

from fairtrain.errors import InvalidInput
from fairtrain.rights.policy import SITE, Decision, EffectivePolicy, Rule
from fairtrain.rights.signals import training_mining_entries
from fairtrain.stamp.pki import Keyring, SigningCredentials
from fairtrain.stamp.provenance import (
    SUPPORTED_MIME,
    ManifestReport,
    SoftBinding,
    _report_from_store,
    read,
    sign,
)

SECRET = "test-secret-key-" + "p" * 40
LICENSE = "https://example.org/@mira/license.xml"
NO_AI = {
    name: {"use": "notAllowed"}
    for name in ("ai_training", "ai_generative_training", "ai_inference", "data_mining")
}
FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


def _image(mime: str, size: tuple[int, int] = (192, 128)) -> bytes:
    """A gradient with some texture, so the encoded image data is not trivially compressible."""
    width, height = size
    image = Image.new("RGB", size)
    image.putdata(
        [
            ((x * 255) // width, (y * 255) // height, (x * y) % 256)
            for y in range(height)
            for x in range(width)
        ]
    )
    out = io.BytesIO()
    image.save(out, FORMATS[mime])
    return out.getvalue()


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return Keyring(tmp_path / "keys", secret_key=SECRET)


@pytest.fixture
def mira(keyring: Keyring) -> SigningCredentials:
    return keyring.credentials_for(
        creator_id="crt_0123456789abcdef", display_name="Mira Okafor", handle="mira"
    )


def _sign(data: bytes, mime: str, credentials: SigningCredentials, **kwargs: Any) -> bytes:
    arguments: dict[str, Any] = {
        "title": "Harbour at dawn",
        "author": "Mira Okafor",
        "training_mining": NO_AI,
        "license_url": LICENSE,
    }
    arguments.update(kwargs)
    return sign(data, mime, credentials=credentials, **arguments)


def _assertion(report: ManifestReport, label: str) -> dict[str, Any]:
    data = report.assertions[label]
    assert isinstance(data, dict)
    return data


def _policy(**actions: str) -> EffectivePolicy:
    return EffectivePolicy({usage: Decision(usage, Rule(action), SITE) for usage, action in actions.items()})


@pytest.mark.parametrize("mime", SUPPORTED_MIME)
def test_signed_image_reads_valid_then_trusted(mime: str, keyring: Keyring, mira: SigningCredentials) -> None:
    original = _image(mime)
    signed = _sign(original, mime, mira)
    # Thumbnail off: the manifest adds a few KB, not the ~137 KB a thumbnail would.
    assert 0 < len(signed) - len(original) < 8_000
    with Image.open(io.BytesIO(signed)) as before, Image.open(io.BytesIO(original)) as after:
        assert before.tobytes() == after.tobytes()  # the pixels are untouched

    report = read(signed, mime)
    assert report.present and report.state == "valid", report
    assert report.errors == []
    assert [w.split(":")[0] for w in report.warnings] == ["signingCredential.untrusted"]
    assert report.title == "Harbour at dawn"
    assert report.signer == "Mira Okafor (@mira) via fairtrain"
    assert report.claim_generator == "fairtrain"
    assert report.signed_at is not None
    assert abs(datetime.fromisoformat(report.signed_at) - datetime.now(UTC)) < timedelta(minutes=5)
    assert report.training_mining == NO_AI
    work = _assertion(report, "stds.schema-org.CreativeWork")
    assert work["author"] == [{"@type": "Person", "name": "Mira Okafor"}]
    assert work["license"] == LICENSE
    actions = _assertion(report, "c2pa.actions.v2")
    assert [a["action"] for a in actions["actions"]] == ["c2pa.created", "c2pa.edited.metadata"]
    assert actions["actions"][0]["digitalSourceType"].endswith("/digitalCapture")

    trusted = read(signed, mime, trust_anchors_pem=keyring.trust_anchors_pem())
    assert trusted.state == "trusted", trusted
    assert trusted.errors == [] and trusted.warnings == []


def test_training_mining_round_trips_from_the_policy(mira: SigningCredentials) -> None:
    entries = training_mining_entries(
        _policy(**{"ai-train": "licence", "ai-input": "deny", "ai-index": "allow"}), license_url=LICENSE
    )
    assert entries["ai_training"] == {"use": "constrained", "constraint_info": LICENSE}
    signed = _sign(_image("image/png"), "image/png", mira, training_mining=entries)

    report = read(signed, "image/png")
    assert report.training_mining == {
        "ai_training": {"use": "constrained", "constraint_info": LICENSE},
        "ai_generative_training": {"use": "constrained", "constraint_info": LICENSE},
        "ai_inference": {"use": "notAllowed"},
        "data_mining": {"use": "allowed"},
    }
    cawg = _assertion(report, "cawg.training-mining")
    legacy = _assertion(report, "c2pa.training-mining")
    assert sorted(cawg["entries"]) == [
        "cawg.ai_generative_training", "cawg.ai_inference", "cawg.ai_training", "cawg.data_mining"
    ]  # fmt: skip
    assert sorted(legacy["entries"]) == [
        "c2pa.ai_generative_training", "c2pa.ai_inference", "c2pa.ai_training", "c2pa.data_mining"
    ]  # fmt: skip
    assert legacy["entries"]["c2pa.ai_training"] == {"use": "constrained", "constraint_info": LICENSE}


def test_licence_url_fills_constrained_entries(mira: SigningCredentials) -> None:
    signed = _sign(
        _image("image/jpeg"), "image/jpeg", mira, training_mining={"ai_training": {"use": "constrained"}}
    )
    assert read(signed, "image/jpeg").training_mining == {
        "ai_training": {"use": "constrained", "constraint_info": LICENSE}
    }

    bare = _sign(
        _image("image/jpeg"),
        "image/jpeg",
        mira,
        training_mining={"ai_training": {"use": "constrained"}},
        license_url=None,
    )
    report = read(bare, "image/jpeg")
    assert report.training_mining == {"ai_training": {"use": "notAllowed"}}  # nothing says how to licence it
    assert "license" not in _assertion(report, "stds.schema-org.CreativeWork")


def test_soft_binding_records_the_watermark(mira: SigningCredentials, keyring: Keyring) -> None:
    signed = _sign(
        _image("image/jpeg"),
        "image/jpeg",
        mira,
        soft_binding=SoftBinding("org.fairtrain.watermark.1", b"\x01\x02\x03"),
    )
    report = read(signed, "image/jpeg", trust_anchors_pem=keyring.trust_anchors_pem())
    assert report.state == "trusted"
    assert report.assertions["c2pa.soft-binding"] == {
        "alg": "org.fairtrain.watermark.1",
        "blocks": [{"scope": {}, "value": "AQID"}],
    }
    actions = _assertion(report, "c2pa.actions.v2")
    assert [a["action"] for a in actions["actions"]] == [
        "c2pa.created",
        "c2pa.watermarked",
        "c2pa.edited.metadata",
    ]


def _flip_jpeg_scan_byte(data: bytes) -> bytes:
    scan = data.rindex(b"\xff\xda")  # start of scan: image data follows, the manifest (APP11) came before
    position = scan + (len(data) - scan) // 2
    return data[:position] + bytes([data[position] ^ 0x5A]) + data[position + 1 :]


def _flip_png_idat_byte(data: bytes) -> bytes:
    """Change one byte of the compressed pixels and fix the chunk's CRC, so the PNG stays well formed."""
    start = data.index(b"IDAT") - 4
    (length,) = struct.unpack(">I", data[start : start + 4])
    body = bytearray(data[start + 8 : start + 8 + length])
    body[length // 2] ^= 0x5A
    crc = struct.pack(">I", zlib.crc32(b"IDAT" + body))
    return data[: start + 8] + bytes(body) + crc + data[start + 12 + length :]


@pytest.mark.parametrize(
    ("mime", "edit"), [("image/jpeg", _flip_jpeg_scan_byte), ("image/png", _flip_png_idat_byte)]
)
def test_image_edited_after_signing_is_invalid(
    mime: str, edit: Callable[[bytes], bytes], keyring: Keyring, mira: SigningCredentials
) -> None:
    signed = _sign(_image(mime), mime, mira)
    edited = edit(signed)
    assert len(edited) == len(signed) and edited != signed

    report = read(edited, mime, trust_anchors_pem=keyring.trust_anchors_pem())
    assert report.present and report.state == "invalid"
    assert any(error.startswith("assertion.dataHash.mismatch") for error in report.errors), report.errors
    assert report.title == "Harbour at dawn"  # what it claimed is still shown


def test_altered_manifest_is_invalid(mira: SigningCredentials) -> None:
    signed = _sign(_image("image/jpeg"), "image/jpeg", mira, author="Mira Okafor")
    forged = signed.replace(b"Mira Okafor", b"Evil Okafor", 1)  # the author inside the CreativeWork assertion
    assert forged != signed
    report = read(forged, "image/jpeg")
    assert report.state == "invalid"
    assert [e.split(":")[0] for e in report.errors] == ["assertion.hashedURI.mismatch"], report.errors
    assert _assertion(report, "stds.schema-org.CreativeWork")["author"] == [
        {"@type": "Person", "name": "Evil Okafor"}
    ]

    box = signed.index(b"jumb")
    broken = signed[: box + 10] + bytes([signed[box + 10] ^ 0xFF]) + signed[box + 11 :]
    damaged = read(broken, "image/jpeg")
    assert damaged.present and damaged.state == "invalid" and damaged.errors


@pytest.mark.parametrize("mime", SUPPORTED_MIME)
def test_unsigned_image_is_absent(mime: str) -> None:
    report = read(_image(mime), mime)
    assert report == ManifestReport(
        present=False,
        state="absent",
        errors=[],
        title=None,
        signer=None,
        signed_at=None,
        claim_generator=None,
        training_mining={},
        assertions={},
    )


@pytest.mark.parametrize("data", [b"", b"definitely not an image " * 20, b"\xff\xd8\xff\xe0" + b"\x00" * 40])
def test_garbage_is_invalid_input(data: bytes) -> None:
    with pytest.raises(InvalidInput, match="not a readable image"):
        read(data, "image/jpeg")


def test_another_installations_manifest_is_valid_but_not_trusted(
    tmp_path: Path, keyring: Keyring, mira: SigningCredentials
) -> None:
    elsewhere = Keyring(tmp_path / "elsewhere", secret_key="another-secret-" + "e" * 40)
    impostor = elsewhere.credentials_for(
        creator_id="crt_0123456789abcdef", display_name="Mira Okafor", handle="mira"
    )
    signed = _sign(_image("image/jpeg"), "image/jpeg", impostor)

    ours = read(signed, "image/jpeg", trust_anchors_pem=keyring.trust_anchors_pem())
    assert ours.state == "valid"
    assert [w.split(":")[0] for w in ours.warnings] == ["signingCredential.untrusted"]
    assert ours.signer == mira.subject  # same name, different CA: only the trust anchors tell them apart
    assert read(signed, "image/jpeg", trust_anchors_pem=elsewhere.trust_anchors_pem()).state == "trusted"


def test_manifests_stay_trusted_after_root_rotation(keyring: Keyring, mira: SigningCredentials) -> None:
    before = _sign(_image("image/png"), "image/png", mira)
    keyring.rotate_root()
    current = keyring.credentials_for(
        creator_id="crt_0123456789abcdef", display_name="Mira Okafor", handle="mira"
    )
    after = _sign(_image("image/png"), "image/png", current)

    anchors = keyring.trust_anchors_pem()
    assert read(before, "image/png", trust_anchors_pem=anchors).state == "trusted"
    assert read(after, "image/png", trust_anchors_pem=anchors).state == "trusted"
    assert read(before, "image/png", trust_anchors_pem=keyring.root_certificate_pem()).state == "valid"


def _sign_with_c2pa(
    data: bytes, credentials: SigningCredentials, assertions: list[dict[str, object]]
) -> bytes:
    """Sign the way another tool might, straight through c2pa's Builder."""
    manifest = {
        "claim_generator_info": [{"name": "other-tool"}],
        "title": "external",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture",
                        }
                    ]
                },
            },
            *assertions,
        ],
    }
    out = io.BytesIO()
    info = c2pa.C2paSignerInfo(
        alg="es256", sign_cert=credentials.chain_pem, private_key=credentials.private_key_pem, ta_url=None
    )
    with (
        c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}}) as context,
        c2pa.Signer.from_info(info) as signer,
        c2pa.Builder(json.dumps(manifest), context=context) as builder,
    ):
        builder.sign(signer, "image/jpeg", io.BytesIO(data), out)
    return out.getvalue()


def test_reads_an_external_c2pa_training_mining_with_constraints_info(mira: SigningCredentials) -> None:
    signed = _sign_with_c2pa(
        _image("image/jpeg"),
        mira,
        [
            {
                "label": "c2pa.training-mining",
                "data": {
                    "entries": {
                        "c2pa.ai_training": {"use": "constrained", "constraints_info": LICENSE},
                        "c2pa.ai_inference": {"use": "constrained"},
                        "c2pa.data_mining": {"use": "allowed"},
                        "c2pa.ai_generative_training": {"use": "sometimes"},
                    }
                },
            }
        ],
    )
    report = read(signed, "image/jpeg")
    assert report.state == "valid"
    assert report.claim_generator == "other-tool"
    assert report.signed_at is None  # no time-stamp and no "when": nothing to show
    assert report.training_mining == {
        "ai_training": {"use": "constrained", "constraint_info": LICENSE},
        "ai_inference": {"use": "notAllowed"},  # constrained, with no terms to read
        "data_mining": {"use": "allowed"},
    }


def test_the_stricter_label_wins(mira: SigningCredentials) -> None:
    signed = _sign_with_c2pa(
        _image("image/jpeg"),
        mira,
        [
            {"label": "cawg.training-mining", "data": {"entries": {"cawg.ai_training": {"use": "allowed"}}}},
            {
                "label": "c2pa.training-mining",
                "data": {"entries": {"c2pa.ai_training": {"use": "notAllowed"}}},
            },
        ],
    )
    assert read(signed, "image/jpeg").training_mining == {"ai_training": {"use": "notAllowed"}}


def test_an_expired_signer_is_valid_not_invalid() -> None:
    """The store c2pa-rs 0.91 returned for a manifest read after its (untrusted) leaf expired."""
    url = "self#jumbf=/c2pa/urn:c2pa:2b28f261/c2pa.signature"
    store: dict[str, Any] = {
        "active_manifest": "urn:c2pa:2b28f261",
        "manifests": {"urn:c2pa:2b28f261": {"title": "Sunset", "assertions": []}},
        "validation_status": [
            {
                "code": "signingCredential.untrusted",
                "url": url,
                "explanation": "signing certificate untrusted",
            },
            {"code": "signingCredential.expired", "url": url, "explanation": "certificate expired"},
        ],
        "validation_state": "Invalid",
    }
    report = _report_from_store(store, trusting=True)
    assert (report.state, report.errors) == ("valid", [])
    assert [w.split(":")[0] for w in report.warnings] == [
        "signingCredential.untrusted",
        "signingCredential.expired",
    ]

    store["validation_status"].append({"code": "assertion.dataHash.mismatch", "url": url})
    assert _report_from_store(store, trusting=True).state == "invalid"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"training_mining": {"ai_everything": {"use": "allowed"}}}, "unknown training-mining entry"),
        ({"training_mining": {"ai_training": {"use": "maybe"}}}, "use must be one of"),
        ({"digital_source_type": "trainedAlgorithmicMedia"}, "digital source type"),
        ({"soft_binding": SoftBinding("no dots", b"x")}, "soft binding"),
    ],
)
def test_sign_rejects_bad_arguments(mira: SigningCredentials, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        _sign(_image("image/jpeg"), "image/jpeg", mira, **kwargs)


def test_sign_rejects_unsupported_or_unreadable_files(mira: SigningCredentials) -> None:
    with pytest.raises(InvalidInput, match="cannot sign 'image/gif'"):
        _sign(b"GIF89a", "image/gif", mira)
    with pytest.raises(InvalidInput, match="not a readable image/png"):
        _sign(b"definitely not a png" * 10, "image/png", mira)


def test_sign_and_read_from_many_threads(keyring: Keyring, mira: SigningCredentials) -> None:
    anchors = keyring.trust_anchors_pem()
    images = {mime: _image(mime, (96, 64)) for mime in SUPPORTED_MIME}

    def round_trip(index: int) -> str:
        mime = SUPPORTED_MIME[index % len(SUPPORTED_MIME)]
        return read(_sign(images[mime], mime, mira, title=f"#{index}"), mime, trust_anchors_pem=anchors).state

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert set(pool.map(round_trip, range(24))) == {"trusted"}
