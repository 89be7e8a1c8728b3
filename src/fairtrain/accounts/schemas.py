"""API shapes of the accounts tables (``*Public`` are what the JSON API returns)."""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from fairtrain.accounts.models import Role

__all__ = [
    "ApiError",
    "CollectivePublic",
    "CreatorPublic",
    "CreatorUpdate",
    "MemberPublic",
    "OrgPublic",
    "Page",
    "UserPublic",
]


class ApiError(BaseModel):
    """Every API error: a sentence for people and a stable code for programs."""

    detail: str = Field(examples=["no creator @nobody"])
    code: str = Field(examples=["unknown_creator"])
    errors: list[dict[str, object]] | None = Field(
        None, description="For 422: each invalid field, with `loc`, `msg` and `type`."
    )


class CreatorPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(examples=["crt_3kf9q2m7x0v5b8nd"])
    handle: str
    display_name: str
    bio: str
    url: str = Field(description="The creator's public page.")
    avatar_url: str | None
    created_at: datetime


class CreatorUpdate(BaseModel):
    """Fields to change; omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    display_name: str | None = Field(None, min_length=1, max_length=120)
    legal_name: str | None = Field(None, max_length=200, description="Empty string clears it.")
    bio: str | None = Field(None, max_length=5000)


class MemberPublic(BaseModel):
    creator: CreatorPublic
    joined_at: datetime
    left_at: datetime | None


class CollectivePublic(BaseModel):
    id: str
    slug: str
    name: str
    description: str
    url: str
    created_at: datetime
    members: list[MemberPublic] = Field(description="Current members first, then past ones.")


class OrgPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    contact_name: str
    contact_email: str
    billing_email: str


class UserPublic(BaseModel):
    id: str
    email: str
    roles: list[Role]
    created_at: datetime
    last_login_at: datetime | None
    creator: CreatorPublic | None
    organisations: list[OrgPublic]


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int
