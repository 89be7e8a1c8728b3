"""The gateway tests' site (tests.gateway.site) and the clients that visit it: a browser, GPTBot from one of
OpenAI's published addresses, and GPTBot's user agent from an address outside them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from fairtrain.config import Settings
from fairtrain.gateway.door import Door
from tests.gateway.site import BROWSER, GPTBOT_IP, GPTBOT_UA, Site, build_site, install_prefixes


@pytest.fixture
def site(db: Session, settings: Settings, tmp_path: Path) -> Site:
    return build_site(db, settings, tmp_path)


@pytest.fixture
def door(app: FastAPI) -> Door:
    door: Door = app.state.door
    return door


@pytest.fixture
def browser(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, headers={"User-Agent": BROWSER}, client=("198.51.100.20", 50000)) as client:
        yield client


@pytest.fixture
def gptbot(app: FastAPI, settings: Settings) -> Iterator[TestClient]:
    install_prefixes(app, settings, "openai-gptbot", ["20.171.206.0/24"])
    with TestClient(app, headers={"User-Agent": GPTBOT_UA}, client=(GPTBOT_IP, 40000)) as client:
        yield client


@pytest.fixture
def fake_gptbot(app: FastAPI, settings: Settings) -> Iterator[TestClient]:
    install_prefixes(app, settings, "openai-gptbot", ["20.171.206.0/24"])
    with TestClient(app, headers={"User-Agent": GPTBOT_UA}, client=("203.0.113.9", 40000)) as client:
        yield client
