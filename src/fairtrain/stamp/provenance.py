"""C2PA manifests: a signed statement, inside the file, of who made it and which AI uses they refuse.

A protected derivative carries the creator's name, the title, and the CAWG training-and-data-mining
assertion (written twice: ``cawg.training-mining`` for C2PA 2.x readers and ``c2pa.training-mining`` for
the 1.x tools still in use, STANDARDS §6), signed with the creator's certificate from the installation's
own CA (:mod:`fairtrain.stamp.pki`). Anyone can check the signature; whoever trusts the installation's root
sees it as "trusted". Editing a single pixel afterwards breaks the hash, so the manifest also tells a
re-encoded or altered copy from the one the creator published.

Signing is offline: no time-stamp authority, no remote manifest, no thumbnail (a thumbnail adds ~137 KB,
the manifest alone ~3.5 KB; STANDARDS §10). Reading never touches the network either, whatever the file
asks for. Each call builds its own c2pa ``Context``, ``Builder`` or ``Reader``, so calls from several
threads of a web server share nothing.

The actions assertion says what fairtrain did, in c2pa-rs's vocabulary: ``c2pa.created`` (a claim's first
action must be ``created`` or ``opened``, and ``opened`` needs the original as an ingredient, which this
module never sees) with an IPTC digital source type saying the work is human-made, ``c2pa.watermarked``
when a soft binding (the invisible watermark's payload) is given — c2pa-rs rejects the action without a
``c2pa.soft-binding`` assertion — and ``c2pa.edited.metadata`` for the rights metadata.
"""

from __future__ import annotations

import base64
import io
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import c2pa

from fairtrain import __version__
from fairtrain.errors import InvalidInput
from fairtrain.stamp.pki import SigningCredentials

__all__ = [
    "DIGITAL_SOURCE_TYPES",
    "SUPPORTED_MIME",
    "TRAINING_MINING_ENTRIES",
    "ManifestReport",
    "SoftBinding",
    "read",
    "sign",
]

# Formats this module signs; each was signed and read back with c2pa-python 0.38 (c2pa-rs 0.91).
SUPPORTED_MIME = ("image/jpeg", "image/png", "image/webp")

# The CAWG entries fairtrain writes, without their ``cawg.``/``c2pa.`` prefix.
TRAINING_MINING_ENTRIES = ("ai_training", "ai_generative_training", "ai_inference", "data_mining")
_USES = ("allowed", "notAllowed", "constrained")
_STRICTNESS = {"allowed": 0, "constrained": 1, "notAllowed": 2}

# IPTC digital source types for human-made work (https://cv.iptc.org/newscodes/digitalsourcetype/).
DIGITAL_SOURCE_TYPES = (
    "digitalCapture",  # a photo or recording
    "computationalCapture",  # a phone photo merged from several exposures
    "negativeFilm",
    "positiveFilm",
    "print",
    "digitalCreation",  # drawn or made by a person with digital tools
    "humanEdits",
    "compositeCapture",
)
_IPTC_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/"

# Failure codes that leave the content and signature intact: the signer is not one we trust, or its
# certificate has expired since. With offline signing there is no time-stamp to prove the signature
# predates the expiry, so c2pa-rs checks the certificate against today's date.
_NOT_TRUSTED_CODES = frozenset({"signingCredential.untrusted", "signingCredential.expired"})

_TRAINING_LABEL = re.compile(r"(cawg|c2pa)\.training-mining(\.v\d+)?")
_ACTIONS_LABEL = re.compile(r"c2pa\.actions(\.v\d+)?")
_ALG = re.compile(r"[a-z0-9-]+(\.[a-zA-Z0-9_-]+)+")

# c2pa settings (https://opensource.contentauthenticity.org/docs/manifest/json-ref/settings-schema/).
_OFFLINE = {"remote_manifest_fetch": False, "ocsp_fetch": False}
_SIGN_SETTINGS: dict[str, Any] = {"builder": {"thumbnail": {"enabled": False}}, "verify": _OFFLINE}


@dataclass(frozen=True)
class SoftBinding:
    """An invisible watermark's payload, recorded so a stripped copy can be tied back to this manifest.

    ``alg`` names the watermark scheme in reverse-domain form (e.g. ``org.fairtrain.watermark.1``)."""

    alg: str
    value: bytes


@dataclass(frozen=True)
class ManifestReport:
    """What a file's C2PA manifest says, and whether to believe it.

    ``state``: "absent" (no manifest), "invalid" (content or manifest altered after signing, or the
    manifest is damaged; ``errors`` says how), "valid" (intact, but the signer is not in the trust anchors
    or its certificate has expired; ``warnings`` says which), "trusted" (intact and signed under one of the
    trust anchors given to :func:`read`).
    """

    present: bool
    state: str
    errors: list[str]
    title: str | None
    signer: str | None
    # The signature's trusted time-stamp when there is one; otherwise the time the signer itself stated in
    # its ``c2pa.created`` action (fairtrain signs offline, so that is all its own manifests carry).
    signed_at: str | None
    claim_generator: str | None
    training_mining: dict[str, dict[str, str]]  # {"ai_training": {"use": "notAllowed"}, ...}
    assertions: dict[str, object]  # label -> data, for display
    warnings: list[str] = field(default_factory=list)


def sign(
    data: bytes,
    mime: str,
    *,
    credentials: SigningCredentials,
    title: str,
    author: str,
    training_mining: dict[str, dict[str, str]],
    license_url: str | None = None,
    claim_generator: str = "fairtrain",
    digital_source_type: str = "digitalCapture",
    soft_binding: SoftBinding | None = None,
) -> bytes:
    """``data`` with a signed C2PA manifest embedded; the input is not changed.

    ``training_mining`` is :func:`fairtrain.rights.signals.training_mining_entries`'s output (entry names
    without prefix). ``license_url`` becomes the ``constraint_info`` of each constrained entry that has
    none, and the ``license`` of the work. Sign last: any later edit, even re-saving the file, breaks or
    strips the manifest.
    """
    if mime not in SUPPORTED_MIME:
        raise InvalidInput(f"cannot sign {mime!r} files; supported: {', '.join(SUPPORTED_MIME)}")
    if digital_source_type not in DIGITAL_SOURCE_TYPES:
        raise InvalidInput(f"unknown digital source type {digital_source_type!r}")
    manifest = _manifest_definition(
        mime,
        title=" ".join(title.split()),
        author=" ".join(author.split()),
        entries=_checked_entries(training_mining, license_url),
        license_url=license_url,
        claim_generator=claim_generator,
        digital_source_type=digital_source_type,
        soft_binding=soft_binding,
    )
    signed = io.BytesIO()
    with (
        c2pa.Context.from_dict(_SIGN_SETTINGS) as context,
        c2pa.Signer.from_info(
            c2pa.C2paSignerInfo(
                alg=credentials.algorithm,
                sign_cert=credentials.chain_pem,
                private_key=credentials.private_key_pem,
                ta_url=None,
            )
        ) as signer,
        c2pa.Builder(manifest, context=context) as builder,
    ):
        try:
            builder.sign(signer, mime, io.BytesIO(data), signed)
        except c2pa.C2paError as error:
            if _is_unreadable_asset(error):
                raise InvalidInput(f"cannot sign this file: it is not a readable {mime} image") from None
            raise
    return signed.getvalue()


def read(data: bytes, mime: str, *, trust_anchors_pem: bytes | None = None) -> ManifestReport:
    """The manifest in ``data``, validated; "trusted" only for chains that end in ``trust_anchors_pem``.

    A file without a manifest gives state "absent"; bytes that are not an image c2pa can parse raise
    :class:`~fairtrain.errors.InvalidInput`.
    """
    settings: dict[str, Any] = {"verify": _OFFLINE}
    if trust_anchors_pem:
        # ``trust_anchors`` replaces c2pa's built-in anchors (``user_anchors`` would add to them), so
        # "Trusted" means "issued under one of these roots" and nothing else.
        settings["trust"] = {"trust_anchors": trust_anchors_pem.decode("ascii")}
    try:
        with c2pa.Context.from_dict(settings) as context:
            reader = c2pa.Reader.try_create(mime, io.BytesIO(data), None, context)
            if reader is None:
                return _report(present=False, state="absent")
            with reader:
                store = json.loads(reader.json())
    except c2pa.C2paError as error:
        if _is_unreadable_asset(error):
            raise InvalidInput(f"not a readable image: {error}") from None
        # The image parsed but its manifest store did not: it was damaged after signing.
        return _report(present=True, state="invalid", errors=[str(error)])
    return _report_from_store(store, trusting=bool(trust_anchors_pem))


# --- writing ----------------------------------------------------------------------------------------


def _checked_entries(
    training_mining: dict[str, dict[str, str]], license_url: str | None
) -> dict[str, dict[str, str]]:
    entries: dict[str, dict[str, str]] = {}
    for name, entry in training_mining.items():
        if name not in TRAINING_MINING_ENTRIES:
            raise InvalidInput(
                f"unknown training-mining entry {name!r}; known: {', '.join(TRAINING_MINING_ENTRIES)}"
            )
        use = entry.get("use")
        if use not in _USES:
            raise InvalidInput(f"training-mining {name}: use must be one of {', '.join(_USES)}, not {use!r}")
        checked = {"use": use}
        if use == "constrained":
            info = entry.get("constraint_info") or entry.get("constraints_info") or license_url
            if info:
                checked["constraint_info"] = info
        entries[name] = checked
    return entries


def _manifest_definition(
    mime: str,
    *,
    title: str,
    author: str,
    entries: dict[str, dict[str, str]],
    license_url: str | None,
    claim_generator: str,
    digital_source_type: str,
    soft_binding: SoftBinding | None,
) -> dict[str, Any]:
    actions: list[dict[str, Any]] = [
        {
            "action": "c2pa.created",
            "digitalSourceType": _IPTC_SOURCE_TYPE + digital_source_type,
            "softwareAgent": {"name": "fairtrain", "version": __version__},
            "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    ]
    assertions: list[dict[str, Any]] = []
    if soft_binding is not None:
        if not _ALG.fullmatch(soft_binding.alg) or not soft_binding.value:
            raise InvalidInput("a soft binding needs a reverse-domain algorithm name and a value")
        actions.append({"action": "c2pa.watermarked"})
        assertions.append(
            {
                "label": "c2pa.soft-binding",
                "data": {
                    "alg": soft_binding.alg,
                    "blocks": [{"scope": {}, "value": base64.b64encode(soft_binding.value).decode("ascii")}],
                },
            }
        )
    actions.append({"action": "c2pa.edited.metadata"})
    assertions.append({"label": "c2pa.actions", "data": {"actions": actions}})
    work: dict[str, Any] = {"@context": "https://schema.org", "@type": "CreativeWork"}
    if title:
        work["name"] = title
    if author:
        work["author"] = [{"@type": "Person", "name": author}]
    if license_url:
        work["license"] = license_url
    assertions.append({"label": "stds.schema-org.CreativeWork", "data": work})
    if entries:
        for prefix in ("cawg", "c2pa"):
            assertions.append(
                {
                    "label": f"{prefix}.training-mining",
                    "data": {"entries": {f"{prefix}.{name}": entry for name, entry in entries.items()}},
                }
            )
    definition: dict[str, Any] = {"claim_generator_info": [{"name": claim_generator}], "format": mime}
    if title:  # optional in C2PA; an untitled work is still signed
        definition["title"] = title
    definition["assertions"] = assertions
    return definition


# --- reading ----------------------------------------------------------------------------------------


def _is_unreadable_asset(error: Exception) -> bool:
    """True when c2pa could not parse the file as any asset it knows (as opposed to a damaged manifest)."""
    return isinstance(error, c2pa.C2paError.NotSupported) or "asset could not be parsed" in str(error)


def _report(
    *,
    present: bool,
    state: str,
    errors: list[str] | None = None,
    warnings: list[str] | None = None,
    manifest: dict[str, Any] | None = None,
) -> ManifestReport:
    manifest = manifest or {}
    assertions = _assertions(manifest)
    return ManifestReport(
        present=present,
        state=state,
        errors=errors or [],
        warnings=warnings or [],
        title=_str(manifest.get("title")),
        signer=_signer(manifest),
        signed_at=_signed_at(manifest, assertions),
        claim_generator=_claim_generator(manifest),
        training_mining=_training_mining(assertions),
        assertions=assertions,
    )


def _report_from_store(store: dict[str, Any], *, trusting: bool) -> ManifestReport:
    manifests = store.get("manifests") or {}
    manifest = manifests.get(store.get("active_manifest")) or {}
    statuses = _statuses(store)
    errors = [text for code, text in statuses if code not in _NOT_TRUSTED_CODES]
    warnings = [text for code, text in statuses if code in _NOT_TRUSTED_CODES]
    reported = store.get("validation_state")
    if errors:
        state = "invalid"
    elif reported == "Trusted":
        # Without anchors of our own, c2pa's built-in list would decide; only ours may make "trusted".
        state = "trusted" if trusting else "valid"
    elif reported == "Valid" or (reported == "Invalid" and warnings):
        state = "valid"
    else:
        state = "invalid"
        errors = [f"validation state {reported!r}"]
    if not manifest and state != "invalid":
        state, errors = "invalid", ["the manifest store has no active manifest"]
    return _report(present=True, state=state, errors=errors, warnings=warnings, manifest=manifest)


def _statuses(store: dict[str, Any]) -> list[tuple[str, str]]:
    """(code, "code: explanation") for every failure c2pa reported, once each."""
    results = store.get("validation_results") or {}
    active = results.get("activeManifest") or {}
    found: dict[tuple[str, str], str] = {}
    for status in [*(store.get("validation_status") or []), *(active.get("failure") or [])]:
        if not isinstance(status, dict):
            continue
        code = str(status.get("code", "unknown"))
        explanation = status.get("explanation")
        found.setdefault(
            (code, str(status.get("url", ""))), f"{code}: {explanation}" if explanation else code
        )
    return [(code, text) for (code, _), text in found.items()]


def _assertions(manifest: dict[str, Any]) -> dict[str, object]:
    assertions: dict[str, object] = {}
    for assertion in manifest.get("assertions") or []:
        if not isinstance(assertion, dict) or not isinstance(assertion.get("label"), str):
            continue
        label = assertion["label"]
        key, n = label, 1
        while key in assertions:  # an assertion may appear more than once
            n += 1
            key = f"{label}#{n}"
        assertions[key] = assertion.get("data")
    return assertions


def _training_mining(assertions: dict[str, object]) -> dict[str, dict[str, str]]:
    """Both labels merged, prefixes dropped; where they disagree the stricter use wins."""
    merged: dict[str, dict[str, str]] = {}
    for label, data in assertions.items():
        if not _TRAINING_LABEL.fullmatch(label.split("#")[0]) or not isinstance(data, dict):
            continue
        entries = data.get("entries")
        if not isinstance(entries, dict):
            continue
        for name, entry in entries.items():
            if not isinstance(name, str) or not isinstance(entry, dict) or entry.get("use") not in _USES:
                continue
            short = name.split(".", 1)[1] if name.startswith(("cawg.", "c2pa.")) else name
            info = entry.get("constraint_info") or entry.get("constraints_info")
            normal = {"use": str(entry["use"])}
            if normal["use"] == "constrained":
                if isinstance(info, str) and info:
                    normal["constraint_info"] = info
                else:
                    normal = {"use": "notAllowed"}  # constrained, but by nothing one can read (§6)
            previous = merged.get(short)
            if previous is None or _STRICTNESS[normal["use"]] > _STRICTNESS[previous["use"]]:
                merged[short] = normal
    return merged


def _signer(manifest: dict[str, Any]) -> str | None:
    info = manifest.get("signature_info") or {}
    return _str(info.get("common_name")) or _str(info.get("issuer"))


def _signed_at(manifest: dict[str, Any], assertions: dict[str, object]) -> str | None:
    info = manifest.get("signature_info") or {}
    if time := _str(info.get("time")):
        return time
    for label, data in assertions.items():
        if _ACTIONS_LABEL.fullmatch(label.split("#")[0]) and isinstance(data, dict):
            for action in data.get("actions") or []:
                if isinstance(action, dict) and action.get("action") == "c2pa.created":
                    return _str(action.get("when"))
    return None


def _claim_generator(manifest: dict[str, Any]) -> str | None:
    for info in manifest.get("claim_generator_info") or []:
        if isinstance(info, dict) and (name := _str(info.get("name"))):
            return name
    return _str(manifest.get("claim_generator"))


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
