"""Web Bot Auth verification (issue 6, STANDARDS §3): published vectors, round trips, every refusal."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from http_message_signatures import HTTPMessageVerifier, MappingKeyResolver, algorithms
from hypothesis import given, settings
from hypothesis import strategies as st

from fairtrain.gateway.botauth import (
    DIRECTORY_MEDIA_TYPE,
    DIRECTORY_PATH,
    BotAuthPolicy,
    BotAuthReason,
    DirectoryError,
    KeyDirectory,
    NonceCache,
    jwk_thumbprint,
    sign_request,
    verify_request,
)


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# RFC 9421 B.1.4 test-key-ed25519, as a JWK in the Web Bot Auth draft's vectors.
RFC_D = "n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU"
RFC_X = "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"
RFC_THUMBPRINT = "poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U"
RFC_PRIVATE = Ed25519PrivateKey.from_private_bytes(_b64url(RFC_D))
RFC_PUBLIC = Ed25519PublicKey.from_public_bytes(_b64url(RFC_X))

AGENT = "https://crawler.example"
DIRECTORY = f"{AGENT}{DIRECTORY_PATH}"
URL = "https://example.com/works/ast_1/full.jpg"
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def jwks(*keys: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return json.dumps(
        {
            "keys": [
                {
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": base64.urlsafe_b64encode(k.public_bytes(Encoding.Raw, PublicFormat.Raw))
                    .rstrip(b"=")
                    .decode(),
                }
                for k in keys
            ]
        }
    ).encode()


class FakeClock:
    def __init__(self, start: float = NOW.timestamp()) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class Directories:
    """An offline web of key directories: host → (status, headers, body); counts requests."""

    def __init__(self) -> None:
        self.sites: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.requests: list[httpx.Request] = []

    def publish(self, host: str, *keys: Ed25519PublicKey, cache_control: str | None = None) -> None:
        headers = {"content-type": DIRECTORY_MEDIA_TYPE}
        if cache_control:
            headers["cache-control"] = cache_control
        self.sites[host] = (200, headers, jwks(*keys))

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path != DIRECTORY_PATH or request.url.host not in self.sites:
            return httpx.Response(404)
        status, headers, body = self.sites[request.url.host]
        return httpx.Response(status, headers=headers, content=body)

    def directory(self, **kwargs: Any) -> KeyDirectory:
        return KeyDirectory(transport=httpx.MockTransport(self.handler), **kwargs)


@pytest.fixture
def web() -> Directories:
    web = Directories()
    web.publish("crawler.example", RFC_PUBLIC)
    return web


def signed(
    *,
    url: str = URL,
    agent: str | None = AGENT,
    created: dt.datetime = NOW,
    lifetime: dt.timedelta = dt.timedelta(minutes=5),
    nonce: str | None = None,
    form: Any = "dictionary",
    key: Ed25519PrivateKey = RFC_PRIVATE,
) -> dict[str, str]:
    headers = {"User-Agent": "ExampleBot/1.0"}
    return headers | sign_request(
        "GET",
        url,
        headers,
        private_key=key,
        agent=agent,
        created=created,
        expires=created + lifetime,
        nonce=nonce,
        agent_form=form,
    )


def verify(
    headers: Any,
    directory: KeyDirectory,
    *,
    url: str = URL,
    now: dt.datetime = NOW,
    nonces: NonceCache | None = None,
    policy: BotAuthPolicy | None = None,
) -> Any:
    extra = {"policy": policy} if policy else {}
    return run(
        verify_request(
            "GET",
            url,
            headers,
            directory=directory,
            nonces=NonceCache() if nonces is None else nonces,
            now=now,
            **extra,
        )
    )


# --- published vectors ------------------------------------------------------------------------------------


def test_keyid_is_the_jwk_thumbprint_of_the_rfc_test_key() -> None:
    assert jwk_thumbprint(RFC_PUBLIC) == RFC_THUMBPRINT
    assert jwk_thumbprint(RFC_PRIVATE.public_key()) == RFC_THUMBPRINT


def test_rfc9421_b26_ed25519_vector_verifies_with_the_library_we_build_on() -> None:
    """RFC 9421 B.2.6: the signature base and signature the RFC prints, reproduced and verified."""
    signature = "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw=="
    params = '("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473'
    params += ';keyid="test-key-ed25519"'
    base = "\n".join(
        [
            '"date": Tue, 20 Apr 2021 02:07:55 GMT',
            '"@method": POST',
            '"@path": /foo',
            '"@authority": example.com',
            '"content-type": application/json',
            '"content-length": 18',
            f'"@signature-params": {params}',
        ]
    ).encode()
    assert base64.b64encode(RFC_PRIVATE.sign(base)).decode() == signature  # Ed25519 is deterministic

    class Message:
        method = "POST"
        url = "https://example.com/foo?param=Value&Pet=dog"
        headers: ClassVar[dict[str, str]] = {
            "Host": "example.com",
            "Date": "Tue, 20 Apr 2021 02:07:55 GMT",
            "Content-Type": "application/json",
            "Content-Length": "18",
            "Signature-Input": f"sig-b26={params}",
            "Signature": f"sig-b26=:{signature}:",
        }

    class Verifier(HTTPMessageVerifier):
        def validate_created_and_expires(self, sig_input: Any, max_age: Any = None) -> None:
            return None  # the vector is from 2021

    verifier = Verifier(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={"test-key-ed25519": RFC_PUBLIC}, private_keys={}),
    )
    [result] = verifier.verify(Message(), max_age=None)
    assert result.parameters == {"created": 1618884473, "keyid": "test-key-ed25519"}


# draft-meunier-web-bot-auth-architecture test vectors (Ed25519), published with the draft's reference code.
VECTOR_NOW = dt.datetime(2025, 1, 1, 0, 0, 30, tzinfo=dt.UTC)  # created=1735689600
VECTOR_POLICY = BotAuthPolicy(max_validity=dt.timedelta(days=365 * 200))  # the vectors expire in 2124
VECTOR_SIG1 = {
    "Signature-Input": 'sig1=("@authority");created=1735689600'
    ';keyid="poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U";alg="ed25519";expires=4889289600;nonce="zIW8+cdmA3vdYagbxojpONwa/l0EKJ/O3/wD486VvsQjO/RxPaSt6ZxvQaMcQzNnq'
    'KN/mQ6hpGiFro2L2qkz5A==";tag="web-bot-auth"',
    "Signature": "sig1=:QKN4fTdIYfh82fvoZCQiQA1weuozfCS/Led2zTMbewMMqH8PI2Wsy/5c4ao6B"
    "6D09nraNQdBNOADg8aM1MqfCg==:",
}
VECTOR_SIG2 = {
    "Signature-Agent": 'agent2="https://signature-agent.test"',
    "Signature-Input": 'sig2=("@authority" "signature-agent";key="agent2");created=1735689600'
    ';keyid="poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U";alg="ed25519";expires=4889289600'
    ';nonce="n9p433xm+NJ3ph3upfBIGmsuwHw387YV7Q/F+6BSpGCVjYCqQw6rznNA8PVVLySrAWsv0hQtFioQb6E1YsauiA=="'
    ';tag="web-bot-auth"',
    "Signature": "sig2=:RdNFx5Bj6au3YgAMQL/RzmUlZE8QZLIaXGRpw985hWnwPfMxT228NMk6ehRS1"
    "PSl4e8PhbNZACSanGdhEwYCCg==:",
}
VECTOR_URL = "https://example.com/path/to/resource"


def test_draft_vector_without_signature_agent_verifies_with_a_pinned_key() -> None:
    directory = KeyDirectory(pinned={RFC_THUMBPRINT: RFC_PUBLIC})
    result = verify(VECTOR_SIG1, directory, url=VECTOR_URL, now=VECTOR_NOW, policy=VECTOR_POLICY)
    assert result.verified, result.reason
    assert (result.keyid, result.agent, result.label) == (RFC_THUMBPRINT, None, "sig1")
    assert directory.fetch_count == 0


def test_draft_vector_without_signature_agent_and_no_pinned_key_is_unknown() -> None:
    result = verify(VECTOR_SIG1, KeyDirectory(), url=VECTOR_URL, now=VECTOR_NOW, policy=VECTOR_POLICY)
    assert result.reason is BotAuthReason.UNKNOWN_KEY


def test_draft_vector_with_dictionary_signature_agent_verifies_through_the_directory() -> None:
    web = Directories()
    web.publish("signature-agent.test", RFC_PUBLIC)
    directory = web.directory()
    result = verify(VECTOR_SIG2, directory, url=VECTOR_URL, now=VECTOR_NOW, policy=VECTOR_POLICY)
    assert result.verified, result.reason
    assert result.agent == "https://signature-agent.test"
    assert result.agent_host == "signature-agent.test"
    assert [str(r.url) for r in web.requests] == [f"https://signature-agent.test{DIRECTORY_PATH}"]
    assert web.requests[0].headers["accept"] == DIRECTORY_MEDIA_TYPE


def test_draft_vector_on_another_authority_is_a_bad_signature() -> None:
    directory = KeyDirectory(pinned={RFC_THUMBPRINT: RFC_PUBLIC})
    result = verify(
        VECTOR_SIG1,
        directory,
        url="https://example.org/path/to/resource",
        now=VECTOR_NOW,
        policy=VECTOR_POLICY,
    )
    assert result.reason is BotAuthReason.BAD_SIGNATURE


# --- round trips ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["dictionary", "string"])
def test_round_trip_in_both_signature_agent_forms(web: Directories, form: str) -> None:
    headers = signed(form=form, nonce="n-1")
    if form == "dictionary":
        assert headers["Signature-Agent"] == f'sig1="{AGENT}"'
        assert '"signature-agent";key="sig1"' in headers["Signature-Input"]
    else:
        assert headers["Signature-Agent"] == f'"{AGENT}"'
        assert '"signature-agent";' not in headers["Signature-Input"]
    assert 'tag="web-bot-auth"' in headers["Signature-Input"]
    assert f'keyid="{RFC_THUMBPRINT}"' in headers["Signature-Input"]
    result = verify(headers, web.directory())
    assert result.verified, result.reason
    assert (result.agent, result.keyid, result.nonce, result.reason) == (AGENT, RFC_THUMBPRINT, "n-1", None)


def test_header_pairs_with_any_case_and_repeated_names_are_accepted(web: Directories) -> None:
    pairs = [(name.lower(), value) for name, value in signed().items()] + [("accept", "a"), ("accept", "b")]
    assert verify(pairs, web.directory()).verified


def test_a_fresh_key_published_in_a_directory_with_other_keys(web: Directories) -> None:
    other, mine = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    web.publish("crawler.example", other.public_key(), mine.public_key())
    result = verify(signed(key=mine), web.directory())
    assert result.verified
    assert result.keyid == jwk_thumbprint(mine.public_key())


# --- refusals ---------------------------------------------------------------------------------------------


def test_unsigned_request_is_missing(web: Directories) -> None:
    result = verify({"User-Agent": "GPTBot/1.0"}, web.directory())
    assert (result.verified, result.reason) == (False, BotAuthReason.MISSING)
    assert web.requests == []


def test_signature_with_another_tag_is_missing(web: Directories) -> None:
    headers = signed()
    headers["Signature-Input"] = headers["Signature-Input"].replace('tag="web-bot-auth"', 'tag="other"')
    assert verify(headers, web.directory()).reason is BotAuthReason.MISSING


SIG = "sig1=:" + base64.b64encode(bytes(64)).decode() + ":"


@pytest.mark.parametrize(
    "signature_input",
    [
        "sig1=(",  # not a structured field
        'sig1=("@authority");created=1;expires=2;keyid="k"',  # no tag: not a web-bot-auth signature
        'sig1="@authority";created=1;expires=2;keyid="k";tag="web-bot-auth"',  # not an inner list
        'sig1=("@authority");expires=1764590700;keyid="k";tag="web-bot-auth"',  # no created
        'sig1=("@authority");created=1764590400;keyid="k";tag="web-bot-auth"',  # no expires
        'sig1=("@authority");created=1764590400;expires=1764590700;tag="web-bot-auth"',  # no keyid
        'sig1=("@authority");created=1764590400;expires=1764590700;keyid=7;tag="web-bot-auth"',
        'sig1=("@authority");created="x";expires=1764590700;keyid="k";tag="web-bot-auth"',
        'sig1=("@authority");created=1764590700;expires=1764590400;keyid="k";tag="web-bot-auth"',  # backwards
        'sig2=("@authority");created=1764590400;expires=1764590700;keyid="k";tag="web-bot-auth"',  # no sig2
    ],
)
def test_malformed_signature_input(web: Directories, signature_input: str) -> None:
    result = verify({"Signature-Input": signature_input, "Signature": SIG}, web.directory())
    parses = signature_input != "sig1=("
    expected = BotAuthReason.MISSING if parses and "tag=" not in signature_input else BotAuthReason.MALFORMED
    assert result.reason is expected
    assert web.requests == []


@pytest.mark.parametrize("agent", ['"https://a.example', "sig1=:AAAA:", "a=1, b=2", "x=(1 2)"])
def test_malformed_signature_agent(web: Directories, agent: str) -> None:
    headers = signed() | {"Signature-Agent": agent}
    assert verify(headers, web.directory()).reason is BotAuthReason.MALFORMED


def test_signature_byte_sequence_required() -> None:
    headers = signed()
    headers["Signature"] = 'sig1="not bytes"'
    assert verify(headers, KeyDirectory()).reason is BotAuthReason.MALFORMED


def test_other_algorithm_is_refused(web: Directories) -> None:
    headers = signed()
    headers["Signature-Input"] = headers["Signature-Input"].replace('alg="ed25519"', 'alg="rsa-pss-sha512"')
    assert verify(headers, web.directory()).reason is BotAuthReason.UNSUPPORTED_ALGORITHM


def test_authority_must_be_covered() -> None:
    headers = {
        "Signature-Input": 'sig1=("@method");created=1764590400;expires=1764590700;keyid="k"'
        ';tag="web-bot-auth"',
        "Signature": SIG,
    }
    assert verify(headers, KeyDirectory()).reason is BotAuthReason.INSUFFICIENT_COVERAGE


def test_signature_agent_must_be_covered_when_sent(web: Directories) -> None:
    headers = signed(agent=None) | {"Signature-Agent": f'"{AGENT}"'}
    assert verify(headers, web.directory()).reason is BotAuthReason.INSUFFICIENT_COVERAGE
    assert web.requests == []


def test_expired_and_not_yet_valid_with_clock_skew(web: Directories) -> None:
    directory = web.directory()
    headers = signed(created=NOW, lifetime=dt.timedelta(minutes=5))  # valid 12:00–12:05
    expires = NOW + dt.timedelta(minutes=5)
    skew = dt.timedelta(seconds=60)
    assert verify(headers, directory, now=expires + skew).verified  # within the skew
    assert (
        verify(headers, directory, now=expires + skew + dt.timedelta(seconds=1)).reason
        is BotAuthReason.EXPIRED
    )
    assert verify(headers, directory, now=NOW - skew).verified
    early = NOW - skew - dt.timedelta(seconds=1)
    assert verify(headers, directory, now=early).reason is BotAuthReason.NOT_YET_VALID
    strict = BotAuthPolicy(clock_skew=dt.timedelta(0))
    assert verify(headers, directory, now=expires + skew, policy=strict).reason is BotAuthReason.EXPIRED


def test_far_future_signature_is_refused(web: Directories) -> None:
    headers = signed(lifetime=dt.timedelta(days=30))
    assert verify(headers, web.directory()).reason is BotAuthReason.VALIDITY_TOO_LONG
    long = BotAuthPolicy(max_validity=dt.timedelta(days=31))
    assert verify(headers, web.directory(), policy=long).verified


def test_tampered_signature_is_refused(web: Directories) -> None:
    headers = signed()
    raw = bytearray(base64.b64decode(headers["Signature"].split(":")[1]))
    raw[0] ^= 1
    headers["Signature"] = "sig1=:" + base64.b64encode(bytes(raw)).decode() + ":"
    result = verify(headers, web.directory())
    assert (result.verified, result.reason, result.agent) == (False, BotAuthReason.BAD_SIGNATURE, AGENT)


def test_signature_replayed_on_another_authority_is_refused(web: Directories) -> None:
    result = verify(signed(), web.directory(), url="https://other.example/works/ast_1/full.jpg")
    assert result.reason is BotAuthReason.BAD_SIGNATURE


def test_swapped_signature_agent_is_refused(web: Directories) -> None:
    """The same key published by another agent: the signed Signature-Agent still pins the first one."""
    web.publish("impostor.example", RFC_PUBLIC)
    headers = signed() | {"Signature-Agent": 'sig1="https://impostor.example"'}
    assert verify(headers, web.directory()).reason is BotAuthReason.BAD_SIGNATURE


def test_key_not_in_the_directory_is_unknown_and_cached_briefly(web: Directories) -> None:
    clock = FakeClock()
    directory = web.directory(clock=clock, negative_ttl=30)
    stranger = Ed25519PrivateKey.generate()
    headers = signed(key=stranger)
    assert verify(headers, directory).reason is BotAuthReason.UNKNOWN_KEY
    assert verify(headers, directory).reason is BotAuthReason.UNKNOWN_KEY
    assert directory.fetch_count == 1
    clock.now += 31
    assert verify(headers, directory).reason is BotAuthReason.UNKNOWN_KEY
    assert directory.fetch_count == 2


def test_replayed_nonce_is_refused(web: Directories) -> None:
    directory, nonces = web.directory(), NonceCache()
    headers = signed(nonce="once")
    assert verify(headers, directory, nonces=nonces).verified
    assert verify(headers, directory, nonces=nonces).reason is BotAuthReason.REPLAYED_NONCE
    assert verify(signed(nonce="twice"), directory, nonces=nonces).verified
    assert verify(signed(), directory, nonces=nonces).verified  # no nonce: nothing to replay-check
    assert verify(signed(), directory, nonces=nonces).verified


def test_forged_requests_do_not_burn_nonces(web: Directories) -> None:
    directory, nonces = web.directory(), NonceCache()
    forged = signed(nonce="mine", key=Ed25519PrivateKey.generate())
    forged["Signature-Input"] = forged["Signature-Input"].replace(
        forged["Signature-Input"].split('keyid="')[1].split('"')[0], RFC_THUMBPRINT
    )
    assert verify(forged, directory, nonces=nonces).reason is BotAuthReason.BAD_SIGNATURE
    assert len(nonces) == 0
    assert verify(signed(nonce="mine"), directory, nonces=nonces).verified


def test_nonce_cache_is_bounded_and_forgets_expired_nonces() -> None:
    nonces = NonceCache(max_entries=2)
    assert nonces.check_and_add("k", "a", until=100, now=0)
    assert not nonces.check_and_add("k", "a", until=100, now=1)
    assert nonces.check_and_add("other-key", "a", until=100, now=1)  # per keyid
    assert nonces.check_and_add("k", "b", until=100, now=1)
    assert len(nonces) == 2  # the oldest was dropped
    assert nonces.check_and_add("k", "a", until=100, now=1)
    cache = NonceCache()
    assert cache.check_and_add("k", "x", until=10, now=0)
    assert cache.check_and_add("k", "x", until=20, now=11)  # its signature expired: forgotten
    assert len(cache) == 1


# --- key directory ----------------------------------------------------------------------------------------


def test_directory_over_http_is_refused_without_a_fetch(web: Directories) -> None:
    directory = web.directory()
    for form in ("dictionary", "string"):
        result = verify(signed(agent="http://crawler.example", form=form), directory)
        assert result.reason is BotAuthReason.INSECURE_DIRECTORY
    assert web.requests == []
    assert directory.fetch_count == 0


def test_directory_url_is_at_the_agent_origin() -> None:
    url = KeyDirectory.directory_url
    assert url("https://crawler.example") == DIRECTORY
    assert url("https://crawler.example/bots/card?x=1") == DIRECTORY
    assert url("https://Crawler.example:443/") == DIRECTORY
    assert url("https://crawler.example:8443") == f"https://crawler.example:8443{DIRECTORY_PATH}"
    assert url("crawler.example") == DIRECTORY
    assert url("https://[2001:db8::1]/") == f"https://[2001:db8::1]{DIRECTORY_PATH}"
    for bad, reason in [
        ("http://crawler.example", BotAuthReason.INSECURE_DIRECTORY),
        ("ftp://crawler.example", BotAuthReason.INSECURE_DIRECTORY),
        ("https://user:pw@crawler.example", BotAuthReason.MALFORMED),
        ("https://crawler.example:99999", BotAuthReason.MALFORMED),
        ("https://", BotAuthReason.MALFORMED),
        ("https://[crawler.example", BotAuthReason.MALFORMED),
    ]:
        with pytest.raises(DirectoryError) as caught:
            url(bad)
        assert caught.value.reason is reason, bad


def answering(response: Callable[[httpx.Request], httpx.Response]) -> tuple[KeyDirectory, list[str]]:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return response(request)

    return KeyDirectory(transport=httpx.MockTransport(handler), max_bytes=4096), seen


def test_redirect_is_not_followed() -> None:
    directory, seen = answering(
        lambda r: httpx.Response(302, headers={"location": "https://evil.example/keys.json"})
    )
    assert verify(signed(), directory).reason is BotAuthReason.REDIRECTED
    assert seen == [DIRECTORY]


def test_oversize_directory_is_refused() -> None:
    big = jwks(RFC_PUBLIC)[:-2] + b"," + b" " * 5000 + b"]}"
    declared, _ = answering(
        lambda r: httpx.Response(200, headers={"content-type": DIRECTORY_MEDIA_TYPE}, content=big)
    )
    assert verify(signed(), declared).reason is BotAuthReason.BAD_DIRECTORY

    async def chunks() -> Any:
        yield big[:3000]
        yield big[3000:]

    streamed, _ = answering(
        lambda r: httpx.Response(200, headers={"content-type": DIRECTORY_MEDIA_TYPE}, content=chunks())
    )
    assert verify(signed(), streamed).reason is BotAuthReason.BAD_DIRECTORY


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (
            httpx.Response(200, headers={"content-type": "application/json"}, content=jwks(RFC_PUBLIC)),
            BotAuthReason.BAD_DIRECTORY,
        ),
        (
            httpx.Response(200, headers={"content-type": DIRECTORY_MEDIA_TYPE}, content=b"{not json"),
            BotAuthReason.BAD_DIRECTORY,
        ),
        (
            httpx.Response(200, headers={"content-type": DIRECTORY_MEDIA_TYPE}, content=b'{"keys": {}}'),
            BotAuthReason.BAD_DIRECTORY,
        ),
        (
            httpx.Response(
                200, headers={"content-type": DIRECTORY_MEDIA_TYPE}, content=b'{"keys": [{"kty": "RSA"}, 1]}'
            ),
            BotAuthReason.UNKNOWN_KEY,
        ),
        (httpx.Response(404), BotAuthReason.DIRECTORY_UNAVAILABLE),
        (httpx.Response(503), BotAuthReason.DIRECTORY_UNAVAILABLE),
    ],
)
def test_bad_directory_answers(response: httpx.Response, reason: BotAuthReason) -> None:
    directory, _ = answering(lambda r: response)
    assert verify(signed(), directory).reason is reason


def test_directory_outage_is_unavailable_and_retried_after_a_short_while() -> None:
    clock = FakeClock()
    calls: list[int] = []

    def down(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ConnectTimeout("timed out", request=request)

    directory = KeyDirectory(transport=httpx.MockTransport(down), clock=clock, negative_ttl=10)
    assert verify(signed(), directory).reason is BotAuthReason.DIRECTORY_UNAVAILABLE
    assert verify(signed(), directory).reason is BotAuthReason.DIRECTORY_UNAVAILABLE
    assert len(calls) == 1
    clock.now += 11
    assert verify(signed(), directory).reason is BotAuthReason.DIRECTORY_UNAVAILABLE
    assert len(calls) == 2


def test_directory_is_cached_per_url_and_keyid_until_max_age(web: Directories) -> None:
    web.publish("crawler.example", RFC_PUBLIC, cache_control="public, max-age=600")
    clock = FakeClock()
    directory = web.directory(clock=clock)
    assert verify(signed(), directory).verified
    assert verify(signed(), directory).verified
    assert directory.fetch_count == 1
    clock.now += 599
    assert verify(signed(), directory).verified
    assert directory.fetch_count == 1
    clock.now += 2
    assert verify(signed(), directory).verified
    assert directory.fetch_count == 2
    # Another agent with the same key is another cache entry.
    web.publish("second.example", RFC_PUBLIC)
    assert verify(signed(agent="https://second.example"), directory).verified
    assert directory.fetch_count == 3


@pytest.mark.parametrize(
    ("cache_control", "ttl"),
    [(None, 3600), ("max-age=1", 60), ("max-age=99999999", 86400), ("no-cache, max-age=120", 120)],
)
def test_max_age_is_kept_within_bounds(web: Directories, cache_control: str | None, ttl: int) -> None:
    web.publish("crawler.example", RFC_PUBLIC, cache_control=cache_control)
    clock = FakeClock()
    directory = web.directory(clock=clock)
    assert verify(signed(), directory).verified
    clock.now += ttl - 1
    assert verify(
        signed(created=NOW + dt.timedelta(seconds=ttl - 1)),
        directory,
        now=NOW + dt.timedelta(seconds=ttl - 1),
    ).verified
    assert directory.fetch_count == 1
    clock.now += 2
    later = NOW + dt.timedelta(seconds=ttl + 1)
    assert verify(signed(created=later), directory, now=later).verified
    assert directory.fetch_count == 2


def test_cache_is_bounded(web: Directories) -> None:
    directory = web.directory(max_entries=2)
    strangers = [Ed25519PrivateKey.generate() for _ in range(3)]
    for key in strangers:
        assert verify(signed(key=key), directory).reason is BotAuthReason.UNKNOWN_KEY
    assert len(directory._cache) == 2


def test_signer_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match=r"."):
        sign_request("GET", "not a url", {}, private_key=RFC_PRIVATE, agent=AGENT)


_sf_chars = st.sampled_from(list('sig1=()"@authority;key,:/ab+=-_0123456789 tag"web-bot-auth\\\t€'))
_field = st.one_of(st.text(_sf_chars, max_size=60), st.text(max_size=20), st.none())


@settings(max_examples=150, deadline=None)
@given(signature_input=_field, signature=_field, agent=_field, url=st.sampled_from([URL, "nonsense", ""]))
def test_verify_never_raises(
    signature_input: str | None, signature: str | None, agent: str | None, url: str
) -> None:
    fields = {"Signature-Input": signature_input, "Signature": signature, "Signature-Agent": agent}
    headers = {name: value for name, value in fields.items() if value is not None}
    directory = KeyDirectory(transport=httpx.MockTransport(lambda r: httpx.Response(404)))
    result = verify(headers, directory, url=url)
    assert not result.verified
    assert isinstance(result.reason, BotAuthReason)


@settings(max_examples=60, deadline=None)
@given(
    agent=st.text(st.sampled_from(list("https:/[]@%:.a-b1 ?#")), max_size=30),
    form=st.sampled_from(["dictionary", "string"]),
)
def test_any_signature_agent_never_raises(agent: str, form: str) -> None:
    try:
        headers = signed(agent=agent, form=form)
    except ValueError:
        return
    directory = KeyDirectory(transport=httpx.MockTransport(lambda r: httpx.Response(404)))
    result = verify(headers, directory)
    assert isinstance(result.reason, BotAuthReason)
    assert result.agent_host is None or isinstance(result.agent_host, str)


def test_concurrent_requests_share_one_directory_fetch(web: Directories) -> None:
    async def scenario() -> list[Any]:
        release = asyncio.Event()
        calls: list[str] = []

        async def slow(request: httpx.Request) -> httpx.Response:
            calls.append(str(request.url))
            await release.wait()
            return web.handler(request)

        directory = KeyDirectory(transport=httpx.MockTransport(slow))
        nonces = NonceCache()
        pending = [
            asyncio.ensure_future(
                verify_request("GET", URL, signed(), directory=directory, nonces=nonces, now=NOW)
            )
            for _ in range(5)
        ]
        while not calls:
            await asyncio.sleep(0)
        for _ in range(10):
            await asyncio.sleep(0)  # let every verification reach the directory
        release.set()
        results = await asyncio.gather(*pending)
        assert calls == [DIRECTORY]
        assert directory.fetch_count == 1
        return results

    assert all(result.verified for result in run(scenario()))
