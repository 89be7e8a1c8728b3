"""Jinja2 templates and the one ``render`` every page goes through."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import HTMLResponse

from fairtrain import __version__
from fairtrain.accounts.models import Role, User
from fairtrain.web.security import csrf_token

__all__ = ["Viewer", "make_templates", "nav_links", "remember_viewer", "render"]

TEMPLATES_DIR = Path(__file__).with_name("templates")


@dataclass(frozen=True)
class Viewer:
    """What pages show of the logged-in user, copied out of the ORM row.

    Error pages render after the request's transaction rolled back, when the row can no longer load.
    """

    id: str
    email: str
    roles: frozenset[Role]
    handle: str | None

    def has_role(self, role: Role) -> bool:
        return role in self.roles


def remember_viewer(request: Request, user: User | None) -> None:
    request.state.user = user
    request.state.viewer = (
        None
        if user is None
        else Viewer(user.id, user.email, user.roles, user.creator.handle if user.creator else None)
    )


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=TEMPLATES_DIR)
    templates.env.globals["version"] = __version__
    return templates


def nav_links(viewer: Viewer | None) -> list[tuple[str, str]]:
    """(label, href) of the navigation, by what the viewer may do."""
    if viewer is None:
        return [
            ("Creators", "/creators"),
            ("Collectives", "/collectives"),
            ("Offers", "/offers"),
            ("Check a file", "/check"),
            ("API", "/api/docs"),
        ]
    links = [("Creators", "/creators"), ("Collectives", "/collectives"), ("Offers", "/offers")]
    if viewer.handle is not None or viewer.roles & {Role.CREATOR, Role.OPERATOR, Role.LICENSEE}:
        links.append(("Deals", "/deals"))
    if viewer.has_role(Role.LICENSEE):
        links.append(("Licensing", "/licensing"))
        links.append(("Invoices", "/invoices"))
    if viewer.handle is not None:
        links.append(("Catalog", "/catalog"))
        links.append(("AI policy", "/policy"))
        links.append(("My page", f"/@{viewer.handle}"))
        links.append(("Statements", "/statements"))
        links.append(("Fans", "/fans"))
    if viewer.has_role(Role.OPERATOR):
        if viewer.handle is None:
            links.append(("AI policy", "/policy"))  # the site's default
        links.append(("Operator", "/operator"))
        links.append(("Books", "/books"))
        links.append(("Fan payments", "/fans/payments"))
    if viewer.handle is not None or viewer.has_role(Role.OPERATOR):
        links.append(("Analytics", "/analytics"))
    links += [("Subscriptions", "/subscriptions"), ("Check a file", "/check"), ("API", "/api/docs")]
    links.append(("Account", "/account"))
    return links


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> HTMLResponse:
    viewer: Viewer | None = getattr(request.state, "viewer", None)
    has_session = "session" in request.scope
    full = {
        "viewer": viewer,
        "nav": nav_links(viewer),
        # Called by the templates that hold a form, so plain public pages set no session cookie.
        "csrf_token": (lambda: csrf_token(request)) if has_session else (lambda: ""),
        "path": request.url.path,
        "settings": request.app.state.settings,
        **(context or {}),
    }
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, template, full, status_code=status_code)
