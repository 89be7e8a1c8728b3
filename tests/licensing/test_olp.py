"""The RSL licence server's logic: signing keys, licence tokens, issuing, offline verification, the live
database check, introspection, and the CAP challenge."""

from __future__ import annotations

import base64
import json
import stat
import threading
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jws, jwt
from joserfc.jwk import ECKey, KeySet, OctKey
from sqlalchemy.orm import Session
from tests.licensing.helpers import NOW, World, terms

from fairtrain.accounts.models import User
from fairtrain.catalog import service as catalog
from fairtrain.licensing.clients import create_client, revoke_client, rotate_client_secret
from fairtrain.licensing.deals import Side, accept, request_deal, terminate
from fairtrain.licensing.keys import SigningKey, SigningKeyring, SigningKeysLocked, VerificationKeys
from fairtrain.licensing.models import ApiClient, Deal
from fairtrain.licensing.offers import create_offer
from fairtrain.licensing.olp import (
    MAX_FORM_BYTES,
    ClientCredentials,
    IssuedToken,
    OlpError,
    check_token_live,
    client_credentials,
    deal_asset_ids,
    introspect,
    issue_token,
    parse_form,
    resolve_resource,
    token_request,
)
from fairtrain.licensing.selection import Selection
from fairtrain.licensing.tokens import (
    CLOCK_SKEW,
    TOKEN_TYPE,
    InvalidLicenseToken,
    LicenseToken,
    cap_challenge,
    scope_matches,
    verify_license_token,
)

BASE = "https://art.example"
SECRET = "olp-test-secret-" + "y" * 40
LIFETIME = timedelta(minutes=15)
LICENSE = '<license xmlns="https://rslstandard.org/rsl"><permits type="usage">ai-train</permits></license>'


def _license(usages: str = "ai-train", extra: str = "") -> str:
    permits = f'<permits type="usage">{usages}</permits>'
    return f'<license xmlns="https://rslstandard.org/rsl">{permits}{extra}</license>'


# --- signing keys ---------------------------------------------------------------------------------------


@pytest.fixture
def keyring(tmp_path: Path) -> SigningKeyring:
    return SigningKeyring(tmp_path / "keys" / "olp", secret_key=SECRET)


def test_key_is_made_on_first_use_encrypted_and_private(keyring: SigningKeyring) -> None:
    assert not keyring.keys_dir.exists()
    key = keyring.signing_key()
    assert stat.S_IMODE(keyring.keys_dir.stat().st_mode) == 0o700
    files = {p.name for p in keyring.keys_dir.iterdir() if not p.name.startswith(".")}
    assert files == {f"{key.kid}.key", "keys.json"}
    for path in keyring.keys_dir.iterdir():
        if path.is_file() and path.name != ".lock":
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    pem = (keyring.keys_dir / f"{key.kid}.key").read_bytes()
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert key.kid == ECKey.import_key(key.key.as_dict(private=False)).thumbprint()  # RFC 7638
    assert str(key.key.as_dict(private=True)["d"]) not in repr(key)
    # Another process (here: another keyring on the same directory) uses the same key.
    assert SigningKeyring(keyring.keys_dir, secret_key=SECRET).signing_key().kid == key.kid
    jwks = keyring.jwks()
    assert [k["kid"] for k in jwks["keys"]] == [key.kid]
    assert set(jwks["keys"][0]) == {"kty", "crv", "x", "y", "kid", "use", "alg"}  # no private "d"
    assert jwks["keys"][0]["alg"] == "ES256"


def test_keys_cannot_be_read_with_another_secret(keyring: SigningKeyring) -> None:
    keyring.signing_key()
    with pytest.raises(SigningKeysLocked):
        SigningKeyring(keyring.keys_dir, secret_key="another-secret-" + "z" * 40).signing_key()


def test_concurrent_first_use_makes_one_key(tmp_path: Path) -> None:
    keys_dir = tmp_path / "olp"
    barrier = threading.Barrier(4)
    kids: list[str] = []

    def first_use() -> None:
        ring = SigningKeyring(keys_dir, secret_key=SECRET)  # each its own lock file descriptor
        barrier.wait()
        kids.append(ring.signing_key().kid)

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(kids) == 4 and len(set(kids)) == 1
    assert len(list(keys_dir.glob("*.key"))) == 1


def test_rotation_keeps_the_old_public_key_published_until_its_tokens_expire(keyring: SigningKeyring) -> None:
    old = keyring.signing_key()
    other_process = SigningKeyring(keyring.keys_dir, secret_key=SECRET)
    assert other_process.signing_key().kid == old.kid
    new_kid = keyring.rotate(publish_for=LIFETIME + CLOCK_SKEW, now=NOW)
    assert new_kid != old.kid
    assert keyring.signing_key().kid == new_kid
    assert other_process.signing_key().kid == new_kid  # picked up from disk at once
    assert not (keyring.keys_dir / f"{old.kid}.key").exists()  # signs nothing more
    published = [k["kid"] for k in keyring.jwks(now=NOW + LIFETIME)["keys"]]
    assert published == [new_kid, old.kid]
    assert [k["kid"] for k in keyring.jwks(now=NOW + LIFETIME + CLOCK_SKEW)["keys"]] == [new_kid]
    assert set(keyring.verification_keys()) == {new_kid, old.kid}
    # A later rotation drops keys whose time is up from the manifest.
    third = keyring.rotate(publish_for=LIFETIME, now=NOW + timedelta(days=1))
    assert set(keyring.verification_keys()) == {third, new_kid}


def test_verification_keys_from_a_jwks(keyring: SigningKeyring) -> None:
    kid = keyring.signing_key().kid
    document = {
        "keys": [
            *keyring.jwks()["keys"],
            {"kty": "oct", "k": "c2VjcmV0", "kid": "sym"},  # not ours to use: skipped
            {**keyring.jwks()["keys"][0], "kid": "private", "d": "AAAA"},  # a private key: skipped
            {"kty": "EC", "crv": "P-256", "x": "bad", "y": "bad", "kid": "broken"},
        ]
    }
    keys = VerificationKeys.from_jwks(json.dumps(document))
    assert set(keys) == {kid}
    for bad in ("[]", "not json", '{"keys": 1}'):
        with pytest.raises(ValueError, match="JWKS"):
            VerificationKeys.from_jwks(bad)


# --- the resource -----------------------------------------------------------------------------------------


def test_resources(db: Session, world: World) -> None:
    photo = world.photos[0]

    def scope(value: str) -> str:
        return resolve_resource(db, value, base_url=BASE).scope

    assert scope("/@mira/*") == scope("/@mira") == scope("/@mira/") == scope("/@MIRA/gallery") == "/@mira/*"
    assert scope(f"{BASE}/@mira/*") == "/@mira/*"
    assert (
        scope(f"/@mira/{photo.id}") == scope(f"{BASE}/@mira/{photo.id}.jpg?size=full") == f"/@mira/{photo.id}"
    )
    assert scope("/*") == scope("/") == scope(BASE) == "/*"
    resolved = resolve_resource(db, "/@mira/*", base_url=BASE)
    assert resolved.license_url == f"{BASE}/@mira/license.xml" and resolved.creator is not None
    catalog.delete_asset(db, asset=world.photos[1])
    for bad in (
        "https://elsewhere.example/@mira/*",
        "http://art.example/@mira/*",  # another scheme is another origin
        "//elsewhere.example/@mira/*",
        "@mira/*",
        "/@nobody/*",
        "/about",
        "/@mira/../@ola/*",
        f"/@ola/{photo.id}",  # a work of someone else
        "/@mira/ast_0000000000000000",
        f"/@mira/{world.photos[1].id}",  # deleted
        "",
        "/@mira/\x00",
        "/" + "a" * 3000,
    ):
        with pytest.raises(OlpError) as caught:
            scope(bad)
        assert caught.value.error == "invalid_resource", bad


# --- the request ------------------------------------------------------------------------------------------


def test_parse_form() -> None:
    form_type = "application/x-www-form-urlencoded"
    assert parse_form(b"a=1&b=%3Cx%3E&c=", form_type + "; charset=utf-8") == {"a": "1", "b": "<x>"}
    assert parse_form(b"", form_type) == {}
    for body, content_type in [
        (b"a=1&a=2", form_type),  # RFC 6749 §3.2: never twice
        (b"a=1&a=", form_type),
        (b"a=1", "application/json"),
        (b"a=1", None),
        (b"a=%FF", form_type),
        (b"\xff=1", form_type),
        (b"&".join(b"f%d=1" % i for i in range(40)), form_type),
        (b"a=" + b"x" * MAX_FORM_BYTES, form_type),
    ]:
        with pytest.raises(OlpError) as caught:
            parse_form(body, content_type)
        assert caught.value.error == "invalid_request" and caught.value.status_code == 400


def _basic(text: bytes) -> str:
    return "Basic " + base64.b64encode(text).decode()


def test_client_credentials() -> None:
    assert client_credentials([_basic(b"ftc_a:ftcs_b")], {}) == ClientCredentials("ftc_a", "ftcs_b")
    assert client_credentials(["basic  " + _basic(b"ftc_a:x%3Ay")[6:]], {}).secret == "x:y"  # form-encoded
    assert client_credentials([_basic(b"ftc_a:s:with:colons")], {}).secret == "s:with:colons"
    assert client_credentials([], {"client_id": "ftc_a", "client_secret": "s"}) == ClientCredentials(
        "ftc_a", "s"
    )
    for authorization, form in [
        ([], {}),
        (["Basic !!!not-base64"], {}),
        (["Basic " + base64.b64encode(b"no colon").decode()], {}),
        (["Basic " + base64.b64encode(b"\xff\xfe:x").decode()], {}),
        (["Basic"], {}),
        (["Bearer abc"], {}),
        ([_basic(b"a:b"), _basic(b"a:b")], {}),  # two Authorization headers
        ([_basic(b"a:b")], {"client_id": "a", "client_secret": "b"}),  # two ways at once
        ([], {"client_id": "ftc_a"}),
        (["Basic " + "A" * 3000], {}),
    ]:
        with pytest.raises(OlpError) as caught:
            client_credentials(authorization, form)
        assert caught.value.error == "invalid_client" and caught.value.status_code == 401
    assert "secret" not in repr(ClientCredentials("ftc_a", "secret"))


# --- issuing and verifying -------------------------------------------------------------------------------


def _deal(db: Session, world: World, **changes: object) -> Deal:
    """An active deal of Acme AI on @mira's images (ai-train, unless ``changes`` say otherwise)."""
    selection = Selection(kinds=("image",))
    offer = create_offer(
        db, seller=world.mira, title="Photos", terms=terms(**changes), selection=selection, now=NOW
    )
    deal = request_deal(db, offer_version=offer.current, org=world.org, now=NOW)
    accept(db, deal=deal, side=Side.SELLER, now=NOW)
    db.flush()
    return deal


def _issue(
    db: Session,
    keyring: SigningKeyring,
    client: ApiClient,
    *,
    resource: str = "/@mira/*",
    license: str = LICENSE,
    **form: str,
) -> IssuedToken:
    fields = {"grant_type": "client_credentials", "license": license, "resource": resource, **form}
    return _issue_form(db, keyring, client, {k: v for k, v in fields.items() if v != "<omit>"})


def _issue_form(db: Session, keyring: SigningKeyring, client: ApiClient, form: dict[str, str]) -> IssuedToken:
    return issue_token(
        db, client=client, form=form, base_url=BASE, keyring=keyring, lifetime=LIFETIME, now=NOW
    )


def _verify(
    keyring: SigningKeyring,
    token: str,
    *,
    keys: VerificationKeys | None = None,
    audience: str = BASE,
    issuer: str | None = None,
    now: datetime = NOW,
) -> LicenseToken:
    keys = keys or keyring.verification_keys()
    return verify_license_token(token, keys=keys, audience=audience, issuer=issuer, now=now)


def test_issue_and_verify(db: Session, world: World, keyring: SigningKeyring) -> None:
    deal = _deal(db, world, usages=["ai-train", "ai-input"])
    client, secret = create_client(db, org=world.org, name="crawler")
    issued = _issue(db, keyring, client)
    assert issued.as_json() == {
        "access_token": issued.access_token,
        "token_type": "License",
        "expires_in": 900,
    }
    token = _verify(keyring, issued.access_token)
    assert token == issued.token
    claims = issued.token.claims()
    assert claims == {
        "iss": f"{BASE}/rsl",
        "aud": BASE,
        "sub": client.id,
        "org": world.org.id,
        "deal": deal.id,
        "scope": "/@mira/*",
        "usage": ["ai-train"],
        "gen": 1,
        "iat": int(NOW.timestamp()),
        "nbf": int(NOW.timestamp()),
        "exp": int((NOW + LIFETIME).timestamp()),
        "jti": issued.token.token_id,
    }
    # joserfc on its own, from the published JWKS, reads the same token.
    decoded = jwt.decode(issued.access_token, KeySet.import_key_set(keyring.jwks()), algorithms=["ES256"])  # type: ignore[arg-type]
    assert decoded.header == {"alg": "ES256", "kid": keyring.signing_key().kid, "typ": TOKEN_TYPE}
    assert decoded.claims == claims
    assert issued.token.covers(f"/@mira/{world.photos[0].id}.jpg", "ai-train")
    assert not issued.token.covers("/@ola/x") and not issued.token.covers("/@mira/x", "ai-input")
    assert deal_asset_ids(db, deal.id) == {p.id for p in world.photos}
    # Two usages, one work; every usage the token grants is listed.
    both = _issue(
        db,
        keyring,
        client,
        resource=f"{BASE}/@mira/{world.photos[0].id}",
        license=_license("ai-train ai-input"),
    )
    assert both.token.scope == f"/@mira/{world.photos[0].id}"
    assert both.token.usages == ("ai-input", "ai-train")  # in RSL's order, whatever the request's
    assert check_token_live(db, both.token, now=NOW)
    # Through the endpoint's own entry point, with Basic credentials.
    via_basic = token_request(
        db,
        authorization=[_basic(f"{client.id}:{secret}".encode())],
        form={"grant_type": "client_credentials", "license": LICENSE, "resource": "/@mira/*"},
        base_url=BASE,
        keyring=keyring,
        lifetime=LIFETIME,
        now=NOW,
    )
    assert via_basic.token.deal_id == deal.id


def test_a_token_never_outlives_its_deal(db: Session, world: World, keyring: SigningKeyring) -> None:
    _deal(db, world, end=NOW + timedelta(minutes=5))
    client, _ = create_client(db, org=world.org, name="crawler")
    issued = _issue(db, keyring, client)
    assert issued.expires_in == 300 and issued.token.expires_at == NOW + timedelta(minutes=5)


def _refused(db: Session, keyring: SigningKeyring, client: ApiClient, **kw: str) -> OlpError:
    with pytest.raises(OlpError) as caught:
        _issue(db, keyring, client, **kw)
    return caught.value


def test_refusals(db: Session, world: World, keyring: SigningKeyring) -> None:
    _deal(db, world, usages=["ai-train"], user_types=["commercial"], territories=["EU"])
    client, _ = create_client(db, org=world.org, name="crawler")
    stranger, _ = create_client(db, org=world.other_org, name="other")

    def error(who: ApiClient = client, **kw: str) -> tuple[str, int]:
        problem = _refused(db, keyring, who, **kw)
        return problem.error, problem.status_code

    assert error(grant_type="password") == ("unsupported_grant_type", 400)
    assert error(license="not xml") == ("invalid_license", 400)
    assert error(license='<license xmlns="urn:other"><permits type="usage">ai-train</permits></license>') == (
        "invalid_license",
        400,
    )
    assert error(license=_license("ai-dance")) == ("invalid_license", 400)
    assert error(license=_license("ai-train", '<prohibits type="usage">ai-train</prohibits>')) == (
        "invalid_license",
        400,
    )
    assert error(license=_license("ai-train", '<permits type="geo">NOWHERE</permits>')) == (
        "invalid_license",
        400,
    )
    doctype = '<!DOCTYPE l [<!ENTITY x "ai-train">]><license xmlns="https://rslstandard.org/rsl">'
    assert error(license=doctype + '<permits type="usage">&x;</permits></license>')[0] == "invalid_license"
    assert error(license_type="text/plain") == ("invalid_license", 400)
    assert error(resource="https://elsewhere.example/@mira/*") == ("invalid_resource", 400)
    assert error(resource="/@nobody/*") == ("invalid_resource", 400)
    # No deal, or not for this usage, user type, territory, creator or site: buy one.
    assert error(stranger) == ("unauthorized_client", 403)
    assert error(license=_license("ai-input")) == ("unauthorized_client", 403)
    assert (
        error(license=_license("ai-train", '<permits type="user">education</permits>'))[0]
        == "unauthorized_client"
    )
    assert error(license=_license("ai-train", '<permits type="geo">US</permits>'))[0] == "unauthorized_client"
    assert error(resource=f"/@mira/{world.texts[0].id}")[0] == "unauthorized_client"  # not in the selection
    assert error(resource="/@ola/*")[0] == "unauthorized_client"
    site = _refused(db, keyring, client, resource="/*")
    assert site.error == "unauthorized_client" and "per creator" in site.message
    problem = _refused(db, keyring, client, license=_license("ai-input"))
    assert f"{BASE}/@mira/license.xml" in problem.message and "Acme AI" in problem.message
    # Covered when the licence says who and where, inside the deal's terms.
    ok = _issue(
        db,
        keyring,
        client,
        license=_license(
            "ai-train", '<permits type="user">commercial</permits><permits type="geo">FR DE</permits>'
        ),
    )
    assert ok.token.usages == ("ai-train",)
    assert (
        error(grant_type="<omit>")
        == error(license="<omit>")
        == error(resource="<omit>")
        == ("invalid_request", 400)
    )
    wrong_secret = [_basic(f"{client.id}:ftcs_wrong".encode())]
    with pytest.raises(OlpError) as caught:
        token_request(
            db,
            authorization=wrong_secret,
            form={},
            base_url=BASE,
            keyring=keyring,
            lifetime=LIFETIME,
            now=NOW,
        )
    assert (caught.value.error, caught.value.status_code) == ("invalid_client", 401)


def test_usages_split_over_two_deals_need_two_tokens(
    db: Session, world: World, keyring: SigningKeyring
) -> None:
    _deal(db, world, usages=["ai-train"])
    _deal(db, world, usages=["ai-input"], exclusive=False)
    client, _ = create_client(db, org=world.org, name="crawler")
    problem = _refused(db, keyring, client, license=_license("ai-train ai-input"))
    assert problem.error == "unauthorized_client" and "separately" in problem.message
    assert _issue(db, keyring, client, license=_license("ai-input")).token.usages == ("ai-input",)


def test_forged_expired_and_foreign_tokens(
    db: Session, world: World, keyring: SigningKeyring, tmp_path: Path
) -> None:
    _deal(db, world)
    client, _ = create_client(db, org=world.org, name="crawler")
    good = _issue(db, keyring, client).access_token
    header, payload, signature = good.split(".")

    def reason(
        token: str,
        *,
        keys: VerificationKeys | None = None,
        audience: str = BASE,
        issuer: str | None = None,
        now: datetime = NOW,
    ) -> str:
        with pytest.raises(InvalidLicenseToken) as caught:
            _verify(keyring, token, keys=keys, audience=audience, issuer=issuer, now=now)
        assert caught.value.status_code == 401 and caught.value.code == "invalid_token"
        return caught.value.reason

    def b64(data: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    tampered = b64({**claims, "scope": "/*"})
    assert reason(f"{header}.{tampered}.{signature}") == "bad_signature"
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    assert reason(f"{header}.{payload}.{flipped}") == "bad_signature"
    # Signed by another key under our kid, or by an unknown kid.
    other = SigningKeyring(tmp_path / "other", secret_key=SECRET)
    impostor = jws.serialize_compact(
        json.loads(base64.urlsafe_b64decode(header + "==")),
        json.dumps(claims),
        other.signing_key().key,
        algorithms=["ES256"],
    )
    assert reason(impostor) == "bad_signature"
    assert reason(good, keys=other.verification_keys()) == "unknown_kid"
    # alg=none and HS256-with-the-public-key confusions never pass.
    kid = keyring.signing_key().kid
    assert reason(f"{b64({'alg': 'none', 'kid': kid, 'typ': TOKEN_TYPE})}.{payload}.") == "malformed"
    hmac_key = OctKey.import_key(json.dumps(keyring.jwks()["keys"][0]).encode())
    hs = jws.serialize_compact(
        {"alg": "HS256", "kid": kid, "typ": TOKEN_TYPE}, json.dumps(claims), hmac_key, algorithms=["HS256"]
    )
    assert reason(hs) == "malformed"
    assert reason(good.replace(header, b64({"alg": "ES256", "kid": kid, "typ": "JWT"}))) == "malformed"
    for garbage in (
        "",
        "a.b",
        "a.b.c",
        "...",
        "ü.x.y",
        "x" * 5000,
        f"{header}.{payload}",
        f"{header}..{signature}",
    ):
        assert reason(garbage) == "malformed", garbage
    # Time and audience.
    assert reason(good, now=NOW + LIFETIME + CLOCK_SKEW) == "expired"
    assert _verify(keyring, good, now=NOW + LIFETIME + CLOCK_SKEW - timedelta(seconds=1))
    assert reason(good, now=NOW - CLOCK_SKEW - timedelta(seconds=1)) == "not_yet_valid"
    assert reason(good, audience="https://elsewhere.example") == "wrong_audience"
    assert reason(good, issuer="https://issuer.example/rsl") == "wrong_audience"
    # A validly signed token with a claim of the wrong type is refused, not crashed on.
    ring_key = keyring.signing_key()
    for broken in (
        {**claims, "usage": "ai-train"},
        {**claims, "exp": "soon"},
        {**claims, "gen": True},
        [1, 2],
    ):
        forged = jws.serialize_compact(
            {"alg": "ES256", "kid": kid, "typ": TOKEN_TYPE},
            json.dumps(broken),
            ring_key.key,
            algorithms=["ES256"],
        )
        assert reason(forged) == "malformed"


def test_rotation_keeps_old_tokens_verifiable(db: Session, world: World, keyring: SigningKeyring) -> None:
    _deal(db, world)
    client, _ = create_client(db, org=world.org, name="crawler")
    before = _issue(db, keyring, client)
    new_kid = keyring.rotate(publish_for=LIFETIME + CLOCK_SKEW, now=NOW)
    after = _issue(db, keyring, client)
    assert before.token.kid != new_kid and after.token.kid == new_kid
    published = VerificationKeys.from_jwks(keyring.jwks(now=NOW))
    for issued in (before, after):
        assert verify_license_token(issued.access_token, keys=published, audience=BASE, now=NOW)
    # Once every token of the old key has expired, the key is no longer published.
    later = NOW + LIFETIME + CLOCK_SKEW
    assert set(VerificationKeys.from_jwks(keyring.jwks(now=later))) == {new_kid}


# --- revocation: the live check and introspection -----------------------------------------------------------


def _introspect(
    db: Session, keyring: SigningKeyring, caller: ApiClient | User, token: str, now: datetime = NOW
) -> dict[str, object]:
    return introspect(
        db, caller=caller, form={"token": token}, keys=keyring.verification_keys(), base_url=BASE, now=now
    )


def test_introspection(db: Session, world: World, keyring: SigningKeyring) -> None:
    deal = _deal(db, world)
    client, _ = create_client(db, org=world.org, name="crawler")
    colleague, _ = create_client(db, org=world.org, name="second")
    issued = _issue(db, keyring, client)
    answer = _introspect(db, keyring, client, issued.access_token)
    assert answer == {
        "active": True,
        **issued.token.claims(),
        "client_id": client.id,
        "token_type": "License",
    }
    assert answer["deal"] == deal.id
    assert _introspect(db, keyring, colleague, issued.access_token) == {"active": False}  # not its token
    assert _introspect(db, keyring, world.operator, issued.access_token)["active"] is True  # an operator: any
    assert _introspect(db, keyring, client, "garbage") == {"active": False}
    assert _introspect(db, keyring, client, issued.access_token, now=NOW + LIFETIME) == {"active": False}
    form = {"token": issued.access_token, "token_type_hint": "refresh_token"}
    hinted = introspect(
        db, caller=client, form=form, keys=keyring.verification_keys(), base_url=BASE, now=NOW
    )
    assert hinted == {"active": False}
    with pytest.raises(OlpError) as caught:
        introspect(db, caller=client, form={}, keys=keyring.verification_keys(), base_url=BASE, now=NOW)
    assert caught.value.error == "invalid_request"


def test_revoking_the_client_ends_its_tokens_at_once(
    db: Session, world: World, keyring: SigningKeyring
) -> None:
    _deal(db, world)
    client, _ = create_client(db, org=world.org, name="crawler")
    issued = _issue(db, keyring, client)
    assert check_token_live(db, issued.token, now=NOW)
    revoke_client(db, client=client, now=NOW)
    assert not check_token_live(db, issued.token, now=NOW)
    assert _introspect(db, keyring, world.operator, issued.access_token) == {"active": False}
    # Offline, it verifies until it expires: the lifetime is the bound.
    assert _verify(keyring, issued.access_token, now=NOW + LIFETIME - timedelta(seconds=1))


def test_rotating_the_secret_ends_tokens_issued_under_the_old_one(
    db: Session, world: World, keyring: SigningKeyring
) -> None:
    _deal(db, world)
    client, _ = create_client(db, org=world.org, name="crawler")
    old = _issue(db, keyring, client)
    rotate_client_secret(db, client=client, now=NOW)
    assert not check_token_live(db, old.token, now=NOW)
    new = _issue(db, keyring, client)
    assert new.token.generation == 2 and check_token_live(db, new.token, now=NOW)


def test_ending_the_deal_ends_its_tokens_at_once(db: Session, world: World, keyring: SigningKeyring) -> None:
    deal = _deal(db, world, end=NOW + timedelta(days=30))
    client, _ = create_client(db, org=world.org, name="crawler")
    issued = _issue(db, keyring, client)
    assert not check_token_live(db, issued.token, now=NOW + timedelta(days=31))  # the term is over
    assert not check_token_live(db, replace(issued.token, org_id=world.other_org.id), now=NOW)
    assert not check_token_live(db, replace(issued.token, deal_id="deal_nosuchdeal"), now=NOW)
    terminate(db, deal=deal, side=Side.LICENSEE, reason="done", now=NOW)
    assert not check_token_live(db, issued.token, now=NOW)
    assert _introspect(db, keyring, client, issued.access_token) == {"active": False}
    assert _refused(db, keyring, client).error == "unauthorized_client"


# --- CAP and scopes ---------------------------------------------------------------------------------------


def test_cap_challenge() -> None:
    headers = cap_challenge(
        "invalid_token", 'the token "x" expired\r\nSet-Cookie: a=b', "https://art.example/@mira/license.xml"
    )
    assert headers == {
        "WWW-Authenticate": 'License error="invalid_token", '
        'error_description="the token \\"x\\" expired  Set-Cookie: a=b"',
        "Link": '<https://art.example/@mira/license.xml>; rel="license"; type="application/rsl+xml"',
    }
    assert cap_challenge("invalid_token", "x", "https://a.example/l i>c.xml")["Link"].startswith(
        "<https://a.example/l%20i%3Ec.xml>"
    )
    for error, url in [("Bad Code", "https://a.example/"), ("invalid_token", "javascript:alert(1)")]:
        with pytest.raises(ValueError, match="not a"):
            cap_challenge(error, "x", url)


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("/@mira/*", "/@mira/ast_x.jpg", True),
        ("/@mira/*", "/@mira", False),
        ("/@mira/*", "/@miranda/x", False),
        ("/@mira/ast_x", "/@mira/ast_x/full.jpg", True),
        ("/*", "/anything", True),
        ("/*.jpg$", "/a/b.jpg", True),
        ("/*.jpg$", "/a/b.jpg?x", False),
        ("/a$", "/a", True),
        ("/a$", "/a\n", False),
        ("/a.b", "/aXb", False),
    ],
)
def test_scope_matching(pattern: str, path: str, matches: bool) -> None:
    assert scope_matches(pattern, path) is matches


def test_signing_key_repr_hides_the_key() -> None:
    key = SigningKey("kid", ECKey.import_key(ec.generate_private_key(ec.SECP256R1())))
    assert repr(key) == "SigningKey(kid='kid')"
