"""The works' files in front of the application (``web.gateway.MediaFront``): the same answers the router
would give, with the security headers, the session read from its cookie, bodies from memory, and refusals
that are given again (and counted again) while nothing about them changed."""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path

import itsdangerous
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairtrain.app import create_app
from fairtrain.config import Settings, load_secret_key
from fairtrain.gateway.door import Door
from fairtrain.gateway.models import TrafficDaily
from fairtrain.gateway.works import FileBodies, ServedFile
from fairtrain.licensing.billing_models import UsageEvent
from fairtrain.web.security import SessionCookie
from tests.gateway.site import (
    BROWSER,
    GPTBOT_IP,
    GPTBOT_UA,
    Site,
    install_prefixes,
    licence_token,
    price_crawls,
)
from tests.helpers import log_in

SECURITY = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
}
# A file or a JSON answer is no document: framing, referrer and opener policies mean nothing for it.
NOT_A_PAGE = {"x-content-type-options": "nosniff"}


def _security(headers: object) -> dict[str, str]:
    return {name: headers[name] for name in SECURITY if name in headers}  # type: ignore[index,operator]


def _count(db: Session, model: type[object]) -> int:
    db.expire_all()
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def _gptbot_rows(db: Session) -> list[TrafficDaily]:
    db.expire_all()
    return list(db.scalars(select(TrafficDaily).where(TrafficDaily.crawler == "GPTBot")))


# --- what every answer carries ----------------------------------------------------------------------------


def test_every_media_answer_carries_the_security_headers_that_apply_to_it(
    browser: TestClient, site: Site
) -> None:
    answers = [
        browser.get(f"/media/{site.public.id}/full"),  # served
        browser.head(f"/media/{site.public.id}/preview"),
        browser.get(f"/media/{site.paywalled.id}/full"),  # refused, JSON
        browser.get(f"/media/{site.private.id}/full"),  # no such work
        browser.get(f"/media/{site.public.id}/thumb"),
        browser.get(f"/media/{site.public.id}/full", headers={"Range": "bytes=0-9"}),  # streamed
    ]
    assert [a.status_code for a in answers] == [200, 200, 403, 404, 404, 206]
    for answer in answers:
        assert _security(answer.headers) == NOT_A_PAGE, answer.request.url
        assert len(answer.headers.get_list("x-content-type-options")) == 1
    etag = answers[0].headers["etag"]
    unchanged = browser.get(f"/media/{site.public.id}/full", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and _security(unchanged.headers) == NOT_A_PAGE
    # A file's answer varies with who asks; a refusal is stored by nobody, so it names no cache key.
    assert "Cookie" in answers[0].headers["vary"] and "Cookie" in unchanged.headers["vary"]
    refused = answers[2]
    assert refused.headers["cache-control"] == "no-store" and "vary" not in refused.headers
    assert refused.headers["content-type"] == "application/json"
    assert refused.json()["code"] == "subscribers_only" and refused.headers["x-robots-tag"] == "noai"
    assert int(refused.headers["content-length"]) == len(refused.content)


def test_a_site_on_https_sends_hsts_on_its_files_too(settings: Settings, site: Site) -> None:
    app = create_app(settings.model_copy(update={"session_cookie_secure": True}))
    try:
        with TestClient(app, headers={"User-Agent": BROWSER}) as client:
            for path in (f"/media/{site.public.id}/full", f"/media/{site.paywalled.id}/full"):
                reply = client.get(path)
                assert reply.headers["strict-transport-security"] == "max-age=31536000", path
                assert reply.headers["x-content-type-options"] == "nosniff"
    finally:
        app.state.engine.dispose()


def test_a_person_opening_a_file_url_gets_pages_for_refusals(browser: TestClient, site: Site) -> None:
    html = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    refused = browser.get(f"/media/{site.paywalled.id}/full", headers=html)
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("text/html")
    assert 'data-code="subscribers_only"' in refused.text and "See the tiers" in refused.text
    assert refused.headers["tdm-reservation"] == "1" and _security(refused.headers) == SECURITY
    # What the person may see is the same file, whichever way it was asked for.
    shown = browser.get(f"/media/{site.public.id}/full", headers=html)
    plain = browser.get(f"/media/{site.public.id}/full")
    assert shown.status_code == plain.status_code == 200
    assert shown.content == plain.content and shown.headers["etag"] == plain.headers["etag"]
    assert browser.get(f"/media/{site.private.id}/full", headers=html).status_code == 404


def test_the_session_cookie_is_read_in_front_and_never_written(
    browser: TestClient, site: Site, settings: Settings
) -> None:
    assert browser.get(f"/media/{site.private.id}/original").status_code == 404
    assert log_in(browser, "mira@example.com").status_code == 303
    cookie = browser.cookies[settings.session_cookie_name]
    original = browser.get(f"/media/{site.private.id}/original")
    assert original.status_code == 200 and original.headers["etag"] == f'"{site.private.sha256}"'
    assert "set-cookie" not in original.headers
    # A cookie whose signature does not hold is nobody's.
    browser.cookies.clear()
    forged = cookie[:-3] + ("AAA" if not cookie.endswith("AAA") else "BBB")
    browser.cookies.set(settings.session_cookie_name, forged)
    assert browser.get(f"/media/{site.private.id}/original").status_code == 404


# --- the session cookie ------------------------------------------------------------------------------------


def _cookie(secret: str, data: object, *, age: float = 0) -> str:
    signer = itsdangerous.TimestampSigner(secret)
    signer.get_timestamp = lambda: int(time.time() - age)  # type: ignore[method-assign]
    return signer.sign(base64.b64encode(json.dumps(data).encode())).decode()


def test_session_cookie_claims_match_the_session_middleware(
    app: FastAPI, site: Site, settings: Settings
) -> None:
    secret = load_secret_key(settings)
    reader = SessionCookie(secret_key=secret, cookie_name="s", max_age=3600)
    with TestClient(app) as client:
        assert log_in(client, "mira@example.com").status_code == 303
        real = client.cookies[settings.session_cookie_name]
    named = SessionCookie(secret_key=secret, cookie_name=settings.session_cookie_name, max_age=3600)
    claims = named.claims(f"theme=dark; {settings.session_cookie_name}={real}")
    assert claims is not None and claims[0] == site.mira_user.id

    assert reader.claims(f"s={_cookie(secret, {'uid': 'usr_1', 'sv': 3})}") == ("usr_1", 3)
    for header in (
        None,
        "",
        "other=1",
        f"s={_cookie(secret, {'uid': 'usr_1', 'sv': 3}, age=7200)}",  # expired
        f"s={_cookie('another-secret-key-' + 'y' * 40, {'uid': 'usr_1', 'sv': 3})}",  # not ours
        f"s={_cookie(secret, ['usr_1', 3])}",
        f"s={_cookie(secret, {'uid': 'usr_1', 'sv': True})}",
        f"s={_cookie(secret, {'uid': 7, 'sv': 3})}",
        f"s={itsdangerous.TimestampSigner(secret).sign(b'%%%not-base64').decode()}",
        f"s={itsdangerous.TimestampSigner(secret).sign(base64.b64encode(b'{nope')).decode()}",
        "s=" + "x" * 5000,
    ):
        assert reader.claims(header) is None, header


# --- bodies from memory ------------------------------------------------------------------------------------


def test_files_from_memory_are_the_files_on_disk(browser: TestClient, site: Site, door: Door) -> None:
    path = f"/media/{site.public.id}/full"
    first = browser.get(path)
    second = browser.get(path)
    served = door.files.full(door.work(site.public.id))  # type: ignore[arg-type]
    assert served is not None and door.files.bodies.get(served) is not None
    on_disk = served.path.read_bytes()
    assert first.content == second.content == on_disk
    for reply in (first, second):
        assert reply.headers["content-length"] == str(len(on_disk))
        assert reply.headers["etag"] == f'"{served.etag}"' and reply.headers["accept-ranges"] == "bytes"
        assert reply.headers["last-modified"].endswith(" GMT")
        assert reply.headers["content-type"] == "image/jpeg"
    head = browser.head(path)
    assert head.status_code == 200 and head.content == b""
    assert {k: head.headers[k] for k in ("etag", "content-length", "last-modified")} == {
        k: first.headers[k] for k in ("etag", "content-length", "last-modified")
    }
    part = browser.get(path, headers={"Range": "bytes=5-14"})
    assert part.status_code == 206 and part.content == on_disk[5:15]
    assert part.headers["last-modified"] == first.headers["last-modified"]


def test_with_memory_off_or_past_its_limit_files_are_streamed(
    settings: Settings, site: Site, tmp_path: Path
) -> None:
    app = create_app(settings.model_copy(update={"gateway_memory_cache_mb": 0}))
    try:
        door: Door = app.state.door
        with TestClient(app, headers={"User-Agent": BROWSER}) as client:
            reply = client.get(f"/media/{site.public.id}/full")
            assert reply.status_code == 200 and reply.content[:2] == b"\xff\xd8"
            assert door.files.bodies.size == 0
    finally:
        app.state.engine.dispose()
    app = create_app(settings)
    try:
        door = app.state.door
        door.files.bodies = FileBodies(1 << 20, max_file_bytes=1000)  # every photo is larger
        with TestClient(app, headers={"User-Agent": BROWSER}) as client:
            reply = client.get(f"/media/{site.public.id}/full")
            assert reply.status_code == 200 and int(reply.headers["content-length"]) > 1000
            assert len(reply.content) == int(reply.headers["content-length"])
            assert door.files.bodies.size == 0
    finally:
        app.state.engine.dispose()


def _served(path: Path, media_type: str = "application/octet-stream") -> ServedFile:
    stat = path.stat()
    return ServedFile(path, media_type, "etag", stat.st_size, stat)


def test_file_bodies_keep_the_most_used_within_budget(tmp_path: Path) -> None:
    files = []
    for n in range(4):
        path = tmp_path / f"f{n}"
        path.write_bytes(bytes([n]) * 400)
        files.append(_served(path))
    bodies = FileBodies(1000, max_file_bytes=500)
    assert bodies.get(files[0]) is None  # never read the disk
    assert bodies.load(files[0]) == b"\x00" * 400 and bodies.load(files[1]) == b"\x01" * 400
    assert bodies.get(files[0]) is not None  # now the most recently used
    bodies.load(files[2])
    assert bodies.size == 800
    assert bodies.get(files[1]) is None and bodies.get(files[0]) is not None
    big = tmp_path / "big"
    big.write_bytes(b"x" * 501)
    assert bodies.load(_served(big)) is None and bodies.size == 800
    gone = _served(tmp_path / "f3")
    (tmp_path / "f3").unlink()
    assert bodies.load(gone) is None
    assert FileBodies(0).load(files[0]) is None


def test_a_replaced_file_is_never_served_from_memory(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"old bytes")
    before = _served(path)
    bodies = FileBodies(1 << 20)
    assert bodies.load(before) == b"old bytes"
    path.write_bytes(b"new bytes, longer")
    os.utime(path, ns=(before.stat.st_mtime_ns + 10**9,) * 2)  # type: ignore[union-attr]
    after = _served(path)
    assert bodies.get(after) is None
    assert bodies.load(after) == b"new bytes, longer"
    # What was stat'ed before the change is not read after it: the disk path answers instead.
    assert FileBodies(1 << 20).load(before) is None


# --- refusals given again ----------------------------------------------------------------------------------


def test_a_crawler_asking_again_gets_the_same_answer_counted_each_time(
    gptbot: TestClient, site: Site, db: Session, door: Door
) -> None:
    path = f"/media/{site.public.id}/full"
    replies = [gptbot.get(path) for _ in range(5)]
    assert {r.status_code for r in replies} == {402}
    assert len({r.content for r in replies}) == 1 and replies[0].json()["license"].endswith("/license.xml")
    assert all(r.headers["www-authenticate"].startswith("License") for r in replies)
    assert all(_security(r.headers) == NOT_A_PAGE for r in replies)
    head = gptbot.head(path)
    assert head.status_code == 402 and head.content == b"" and head.headers["content-length"] != "0"
    door.meter.flush()
    rows = _gptbot_rows(db)
    assert sum(r.requests for r in rows) == sum(r.quoted for r in rows) == 6

    # A new price reaches the crawler as soon as the door sees the work again.
    price_crawls(db, site.mira, 30_000)
    door.works.clear()
    quoted = gptbot.get(path)
    assert quoted.status_code == 402 and quoted.headers["crawler-price"] == "USD 0.03"
    assert gptbot.get(path).headers["crawler-price"] == "USD 0.03"
    # An offer to pay is the crawler's own request: never answered from what was kept.
    offer = gptbot.get(path, headers={"crawler-exact-price": "USD 0.03"})
    assert offer.status_code == 403 and offer.headers["crawler-error"] == "PaymentFailed"
    door.meter.flush()
    rows = _gptbot_rows(db)
    assert sum(r.requests for r in rows) == 9 and sum(r.quoted for r in rows) == 8
    assert sum(r.refused for r in rows) == 1


def test_kept_answers_are_per_client_and_never_for_personal_requests(
    app: FastAPI, gptbot: TestClient, site: Site, settings: Settings, db: Session, door: Door
) -> None:
    path = f"/media/{site.public.id}/full"
    assert [gptbot.get(path).status_code for _ in range(2)] == [402, 402]
    # The same user agent from an address outside OpenAI's list is a disguised bot, not the verified one.
    with TestClient(app, headers={"User-Agent": GPTBOT_UA}, client=("203.0.113.9", 40000)) as fake:
        disguised = fake.get(path)
        assert disguised.status_code == 403 and disguised.headers["crawler-error"] == "CrawlerForbidden"
    # A licence token makes the request the licensee's own: served, and metered, not the kept quote.
    token = licence_token(gptbot, site)
    licensed = gptbot.get(path, headers={"Authorization": f"License {token}"})
    assert licensed.status_code == 200 and licensed.content[:2] == b"\xff\xd8"
    assert _count(db, UsageEvent) == 1
    # So does a session cookie: a script refused as a scraper is served once it signs in as the owner.
    with TestClient(app, headers={"User-Agent": "python-requests/2.32"}, client=(GPTBOT_IP, 40001)) as script:
        assert [script.get(path).status_code for _ in range(2)] == [403, 403]
        assert log_in(script, "mira@example.com").status_code == 303
        assert script.get(path).status_code == 200
        script.cookies.clear()
        assert script.get(path).status_code == 403
    # OpenAI moves its crawlers: the kept quote is not given to an address that no longer proves GPTBot.
    install_prefixes(app, settings, "openai-gptbot", ["192.0.2.0/24"])
    moved = gptbot.get(path)
    assert moved.status_code == 403 and moved.headers["crawler-error"] == "CrawlerForbidden"
    door.meter.flush()
    rows = _gptbot_rows(db)
    assert sum(r.requests for r in rows if r.client_class == "verified-crawler") == 2
