"""JSON API, version 1. Public reads need no token; `/me` and changes need an API token or a session."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from fairtrain.accounts import service
from fairtrain.accounts.models import Collective, CreatorProfile, Role
from fairtrain.accounts.schemas import (
    ApiError,
    CollectivePublic,
    CreatorPublic,
    CreatorUpdate,
    MemberPublic,
    OrgPublic,
    Page,
    UserPublic,
)
from fairtrain.errors import Forbidden
from fairtrain.web.deps import ApiUserDep, DbDep, SettingsDep

__all__ = ["router"]


def _error(description: str) -> dict[str, object]:
    return {"description": description, "model": ApiError}


router = APIRouter(
    prefix="/api/v1",
    responses={
        401: _error("No valid API token or session (`WWW-Authenticate: Bearer`)"),
        413: _error("Request body too large"),
        422: _error("Invalid request: malformed JSON or invalid fields"),
    },
)

Limit = Annotated[int, Query(ge=1, le=500, description="Items per page.")]
Offset = Annotated[int, Query(ge=0, description="Items to skip.")]

_ERRORS: dict[int | str, dict[str, object]] = {404: _error("Not found")}
_WRITE_ERRORS: dict[int | str, dict[str, object]] = {**_ERRORS, 403: _error("Not allowed for this user")}


def creator_public(creator: CreatorProfile, base_url: str) -> CreatorPublic:
    return CreatorPublic(
        id=creator.id,
        handle=creator.handle,
        display_name=creator.display_name,
        bio=creator.bio,
        url=f"{base_url}/@{creator.handle}",
        avatar_url=f"{base_url}/@{creator.handle}/avatar" if creator.avatar else None,
        created_at=creator.created_at,
    )


def collective_public(collective: Collective, base_url: str) -> CollectivePublic:
    members = sorted(collective.memberships, key=lambda m: (m.left_at is not None, m.joined_at))
    return CollectivePublic(
        id=collective.id,
        slug=collective.slug,
        name=collective.name,
        description=collective.description,
        url=f"{base_url}/collectives/{collective.slug}",
        created_at=collective.created_at,
        members=[
            MemberPublic(
                creator=creator_public(m.creator, base_url), joined_at=m.joined_at, left_at=m.left_at
            )
            for m in members
        ],
    )


@router.get("/me", summary="The authenticated user")
def me(request: Request, db: DbDep, settings: SettingsDep, user: ApiUserDep) -> UserPublic:
    return UserPublic(
        id=user.id,
        email=user.email,
        roles=sorted(user.roles),
        created_at=user.created_at,
        last_login_at=user.last_login_at,
        creator=creator_public(user.creator, settings.base_url) if user.creator else None,
        organisations=[OrgPublic.model_validate(org) for org in service.orgs_of(db, user)],
    )


@router.get("/creators", summary="List creators")
def list_creators(
    db: DbDep, settings: SettingsDep, limit: Limit = 50, offset: Offset = 0
) -> Page[CreatorPublic]:
    items = service.list_creators(db, limit=limit, offset=offset)
    return Page[CreatorPublic](
        items=[creator_public(c, settings.base_url) for c in items],
        total=service.count_creators(db),
        limit=limit,
        offset=offset,
    )


@router.get("/creators/{handle}", summary="One creator", responses=_ERRORS)
def get_creator(db: DbDep, settings: SettingsDep, handle: str) -> CreatorPublic:
    return creator_public(service.get_creator(db, handle), settings.base_url)


@router.patch(
    "/creators/{handle}",
    summary="Update a creator profile (its owner or an operator)",
    responses=_WRITE_ERRORS,
)
def update_creator(
    db: DbDep, settings: SettingsDep, user: ApiUserDep, handle: str, changes: CreatorUpdate
) -> CreatorPublic:
    creator = service.get_creator(db, handle)
    if creator.user_id != user.id and not user.has_role(Role.OPERATOR):
        raise Forbidden(f"only @{creator.handle} or an operator may change this profile")
    service.update_creator(db, creator=creator, **changes.model_dump(exclude_unset=True))
    return creator_public(creator, settings.base_url)


@router.get("/collectives", summary="List collectives")
def list_collectives(
    db: DbDep, settings: SettingsDep, limit: Limit = 50, offset: Offset = 0
) -> Page[CollectivePublic]:
    items = service.list_collectives(db, limit=limit, offset=offset)
    return Page[CollectivePublic](
        items=[collective_public(c, settings.base_url) for c in items],
        total=service.count_collectives(db),
        limit=limit,
        offset=offset,
    )


@router.get("/collectives/{slug}", summary="One collective with its members", responses=_ERRORS)
def get_collective(db: DbDep, settings: SettingsDep, slug: str) -> CollectivePublic:
    return collective_public(service.get_collective(db, slug), settings.base_url)
