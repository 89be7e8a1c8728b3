"""Tables owned by accounts: users and roles, creators, collectives, licensee organisations, API tokens."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fairtrain.db.base import Base, IdPrimaryKey, utcnow

__all__ = [
    "ApiToken",
    "Collective",
    "CollectiveMembership",
    "CreatorProfile",
    "LicenseeMember",
    "LicenseeOrg",
    "LoginFailure",
    "Role",
    "User",
    "UserRole",
]


class Role(enum.StrEnum):
    OPERATOR = "operator"
    CREATOR = "creator"
    FAN = "fan"
    LICENSEE = "licensee"


_ROLE_VALUES = ", ".join(f"'{role.value}'" for role in Role)


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = IdPrimaryKey("usr")
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # Bumped on password change: every session cookie issued before it stops working.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))

    role_rows: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )
    creator: Mapped[CreatorProfile | None] = relationship(back_populates="user", lazy="selectin")

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(Role(row.role) for row in self.role_rows)

    def has_role(self, role: Role) -> bool:
        return role in self.roles


class UserRole(Base):
    __tablename__ = "user_roles"
    __table_args__ = (CheckConstraint(f"role IN ({_ROLE_VALUES})", name="role_known"),)

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(back_populates="role_rows")


class CreatorProfile(Base):
    __tablename__ = "creators"

    id: Mapped[str] = IdPrimaryKey("crt")
    # A platform operator may manage a creator who has no log-in yet, so the user is optional.
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), unique=True)
    handle: Mapped[str] = mapped_column(String(32), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    legal_name: Mapped[str | None] = mapped_column(String(200))
    bio: Mapped[str] = mapped_column(Text, default="", server_default="")
    avatar: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User | None] = relationship(back_populates="creator")


class Collective(Base):
    __tablename__ = "collectives"

    id: Mapped[str] = IdPrimaryKey("col")
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    operator_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    operator: Mapped[User] = relationship()
    memberships: Mapped[list[CollectiveMembership]] = relationship(
        back_populates="collective", order_by="CollectiveMembership.joined_at"
    )


class CollectiveMembership(Base):
    """One stay of a creator in a collective; leaving sets ``left_at``, rejoining adds a new row."""

    __tablename__ = "collective_memberships"
    __table_args__ = (
        CheckConstraint("left_at IS NULL OR left_at >= joined_at", name="left_after_joined"),
        Index(
            "uq_collective_memberships_active",
            "collective_id",
            "creator_id",
            unique=True,
            sqlite_where=text("left_at IS NULL"),
            postgresql_where=text("left_at IS NULL"),
        ),
    )

    id: Mapped[str] = IdPrimaryKey("cmb")
    collective_id: Mapped[str] = mapped_column(ForeignKey("collectives.id", ondelete="CASCADE"), index=True)
    creator_id: Mapped[str] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"), index=True)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
    left_at: Mapped[datetime | None]

    collective: Mapped[Collective] = relationship(back_populates="memberships")
    creator: Mapped[CreatorProfile] = relationship(lazy="joined")


class LicenseeOrg(Base):
    __tablename__ = "licensee_orgs"

    id: Mapped[str] = IdPrimaryKey("org")
    name: Mapped[str] = mapped_column(String(200), unique=True)
    contact_name: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str] = mapped_column(String(320))
    billing_email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    members: Mapped[list[LicenseeMember]] = relationship(back_populates="org", lazy="selectin")


class LicenseeMember(Base):
    __tablename__ = "licensee_members"

    org_id: Mapped[str] = mapped_column(ForeignKey("licensee_orgs.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)

    org: Mapped[LicenseeOrg] = relationship(back_populates="members")
    user: Mapped[User] = relationship(lazy="joined")


class ApiToken(Base):
    """A personal API token; only its SHA-256 is kept, the secret is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = IdPrimaryKey("tok")
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="joined")


class LoginFailure(Base):
    """A failed log-in, kept for the throttling window (per account and IP)."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_key", "email", "ip", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320))
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
