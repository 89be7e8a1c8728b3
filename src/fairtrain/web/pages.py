"""Server-rendered pages. Every unsafe request on this router passes the CSRF check."""

from __future__ import annotations

from html import escape
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse
from starlette.responses import HTMLResponse, RedirectResponse, Response

from fairtrain.accounts import avatars, service
from fairtrain.accounts.errors import InvalidCredentials, LoginThrottled, UnknownCreator
from fairtrain.accounts.models import Role, User
from fairtrain.accounts.tokens import create_api_token, list_api_tokens, revoke_api_token
from fairtrain.catalog.service import published_works
from fairtrain.errors import FairtrainError, NotFound
from fairtrain.rights.service import creator_signals
from fairtrain.rights.signals import html_tags, response_headers
from fairtrain.web.deps import DbDep, SettingsDep, UserDep, ViewerDep, require_role
from fairtrain.web.fans_pages import public_tiers
from fairtrain.web.security import check_csrf, end_session, start_session
from fairtrain.web.templating import remember_viewer, render

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)

Text = Annotated[str, Form()]


def _safe_next(target: str | None) -> str:
    """Only same-site paths: a log-in form must not bounce people to another site."""
    if not target:
        return "/account"
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
    ):
        return "/account"
    return target


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/")
def home(request: Request, db: DbDep, viewer: ViewerDep) -> Response:
    creators = service.list_creators(db, limit=12)
    return render(request, "home.html", {"creators": creators})


# --- sign-up, log-in, log-out --------------------------------------------------------------------------


@router.get("/signup")
def signup_form(request: Request, viewer: ViewerDep) -> Response:
    return render(request, "signup.html", {"form": {"kind": "fan"}})


@router.get("/signup/handle-check")
def handle_check(db: DbDep, handle: str = "") -> HTMLResponse:
    """htmx fragment under the handle field: is this handle valid and free?"""
    try:
        normalized = service.normalize_handle(handle)
        service.get_creator(db, normalized)
    except UnknownCreator:
        return HTMLResponse(f'<small class="ok">@{escape(normalized)} is available</small>')
    except FairtrainError as exc:
        return HTMLResponse(f'<small class="bad">{escape(exc.message)}</small>')
    return HTMLResponse(f'<small class="bad">@{escape(normalized)} is taken</small>')


@router.post("/signup")
def signup(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    email: Text,
    password: Text,
    kind: Annotated[str, Form()] = "fan",
    handle: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form()] = "",
) -> Response:
    form = {"email": email, "kind": kind, "handle": handle, "display_name": display_name}
    try:
        user = service.sign_up(
            db,
            email=email,
            password=password,
            as_creator=kind == "creator",
            handle=handle or None,
            display_name=display_name or None,
            min_password_length=settings.password_min_length,
        )
    except FairtrainError as exc:
        db.rollback()  # nothing half-created
        remember_viewer(request, None)
        return render(
            request, "signup.html", {"form": form, "error": exc.message}, status_code=exc.status_code
        )
    start_session(request, user)
    return _see_other(f"/@{user.creator.handle}" if user.creator else "/account")


@router.get("/login")
def login_form(request: Request, viewer: ViewerDep, next: str | None = None) -> Response:
    return render(request, "login.html", {"next": _safe_next(next), "email": ""})


@router.post("/login")
def login(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    email: Text,
    password: Text,
    next: Annotated[str, Form()] = "/account",
) -> Response:
    try:
        user = service.authenticate(
            db,
            email=email,
            password=password,
            ip=_client_ip(request),
            max_failures=settings.login_max_failures,
            window_seconds=settings.login_failure_window,
        )
    except (InvalidCredentials, LoginThrottled) as exc:
        # The failure row is committed with the response: throttling counts it.
        response = render(
            request,
            "login.html",
            {"next": _safe_next(next), "email": email, "error": exc.message},
            status_code=exc.status_code,
        )
        if isinstance(exc, LoginThrottled):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    start_session(request, user)
    return _see_other(_safe_next(next))


@router.post("/logout")
def logout(request: Request) -> Response:
    end_session(request)
    return _see_other("/")


# --- account -------------------------------------------------------------------------------------------


def _account(request: Request, db: DbDep, user: User, *, status_code: int = 200, **extra: object) -> Response:
    context = {
        "user": user,
        "tokens": list_api_tokens(db, user=user),
        "orgs": service.orgs_of(db, user),
        **extra,
    }
    return render(request, "account.html", context, status_code=status_code)


@router.get("/account")
def account(request: Request, db: DbDep, user: UserDep) -> Response:
    return _account(request, db, user, notice=request.query_params.get("notice"))


@router.post("/account/password")
def change_password(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    user: UserDep,
    current_password: Text,
    new_password: Text,
) -> Response:
    try:
        service.change_password(
            db,
            user=user,
            current_password=current_password,
            new_password=new_password,
            min_password_length=settings.password_min_length,
        )
    except FairtrainError as exc:
        db.rollback()
        return _account(request, db, user, password_error=exc.message, status_code=exc.status_code)
    start_session(request, user)  # this browser stays logged in; every other session ends
    return _see_other("/account?notice=password-changed")


@router.post("/account/profile")
def update_profile(
    request: Request,
    db: DbDep,
    user: UserDep,
    display_name: Text,
    legal_name: Annotated[str, Form()] = "",
    bio: Annotated[str, Form()] = "",
) -> Response:
    if user.creator is None:
        raise NotFound("this account has no creator profile")
    try:
        service.update_creator(
            db, creator=user.creator, display_name=display_name, legal_name=legal_name, bio=bio
        )
    except FairtrainError as exc:
        db.rollback()
        return _account(request, db, user, profile_error=exc.message, status_code=exc.status_code)
    return _see_other("/account?notice=profile-saved")


@router.post("/account/avatar")
async def upload_avatar(
    request: Request, db: DbDep, settings: SettingsDep, user: UserDep, avatar: Annotated[UploadFile, File()]
) -> Response:
    if user.creator is None:
        raise NotFound("this account has no creator profile")
    data = await avatar.read(avatars.AVATAR_MAX_BYTES + 1)
    try:
        avatars.store_avatar(db, data_dir=settings.data_dir, creator=user.creator, data=data)
    except FairtrainError as exc:
        db.rollback()
        return _account(request, db, user, profile_error=exc.message, status_code=exc.status_code)
    return _see_other("/account?notice=avatar-saved")


@router.post("/account/tokens")
def create_token(request: Request, db: DbDep, user: UserDep, name: Text) -> Response:
    try:
        token, secret = create_api_token(db, user=user, name=name)
    except FairtrainError as exc:
        db.rollback()
        return _account(request, db, user, token_error=exc.message, status_code=exc.status_code)
    # Shown once, in this response only; never stored or redirected through a URL.
    return _account(request, db, user, new_token=secret, new_token_name=token.name)


@router.post("/account/tokens/{token_id}/revoke")
def revoke_token(db: DbDep, user: UserDep, token_id: str) -> Response:
    revoke_api_token(db, user=user, token_id=token_id)
    return _see_other("/account?notice=token-revoked")


# --- public pages --------------------------------------------------------------------------------------


@router.get("/creators")
def creators(request: Request, db: DbDep, viewer: ViewerDep) -> Response:
    return render(request, "creators.html", {"creators": service.list_creators(db, limit=500)})


@router.get("/@{handle}")
def creator_page(
    request: Request, db: DbDep, settings: SettingsDep, viewer: ViewerDep, handle: str
) -> Response:
    creator = service.get_creator(db, handle)
    memberships = service.memberships_of(db, creator)
    site, own = creator_signals(db, base_url=settings.base_url, creator=creator)
    response = render(
        request,
        "creator.html",
        {
            "creator": creator,
            "memberships": memberships,
            "policy_tags": html_tags(site, own),
            "policy": own.policy,
            "tiers": public_tiers(db, creator),
            "works": published_works(db, creator=creator),
        },
    )
    response.headers.update(response_headers(site, own))  # the same terms, machine-readable
    return response


@router.get("/@{handle}/avatar")
def creator_avatar(db: DbDep, settings: SettingsDep, handle: str) -> Response:
    creator = service.get_creator(db, handle)
    path = avatars.avatar_path(settings.data_dir, creator)
    if path is None:
        raise NotFound(f"@{creator.handle} has no avatar")
    return FileResponse(path, media_type="image/webp", headers={"Cache-Control": "public, max-age=3600"})


@router.get("/collectives")
def collectives(request: Request, db: DbDep, viewer: ViewerDep) -> Response:
    return render(request, "collectives.html", {"collectives": service.list_collectives(db, limit=500)})


@router.get("/collectives/{slug}")
def collective_page(request: Request, db: DbDep, viewer: ViewerDep, slug: str) -> Response:
    collective = service.get_collective(db, slug)
    return render(
        request, "collective.html", {"collective": collective, "members": service.active_members(collective)}
    )


@router.get("/operator")
def operator_dashboard(
    request: Request, db: DbDep, user: Annotated[User, Depends(require_role(Role.OPERATOR))]
) -> Response:
    return render(
        request,
        "operator.html",
        {
            "users": service.list_users(db),
            "creators": service.list_creators(db, limit=500),
            "collectives": service.list_collectives(db, limit=500),
        },
    )
