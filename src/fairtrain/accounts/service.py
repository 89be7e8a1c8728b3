"""Accounts logic: users and roles, sign-up and log-in, creators, collectives, licensee organisations.

Functions take the caller's ``Session`` and keyword arguments, flush what they change, and leave the commit to
the caller, so one request or one CLI command is one transaction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fairtrain.accounts.errors import (
    EmailTaken,
    HandleTaken,
    InvalidCredentials,
    InvalidEmail,
    InvalidHandle,
    LoginThrottled,
    NotAMember,
    SlugTaken,
    UnknownCollective,
    UnknownCreator,
    UnknownOrg,
    UnknownUser,
)
from fairtrain.accounts.models import (
    Collective,
    CollectiveMembership,
    CreatorProfile,
    LicenseeMember,
    LicenseeOrg,
    LoginFailure,
    Role,
    User,
    UserRole,
)
from fairtrain.accounts.passwords import check_strength, hash_password, needs_rehash, verify_password
from fairtrain.db.base import utcnow
from fairtrain.errors import Conflict, InvalidInput

__all__ = [
    "active_members",
    "add_licensee_member",
    "add_member",
    "authenticate",
    "change_password",
    "count_collectives",
    "count_creators",
    "create_collective",
    "create_creator",
    "create_licensee_org",
    "create_user",
    "get_collective",
    "get_creator",
    "get_licensee_org",
    "get_user",
    "get_user_by_email",
    "grant_role",
    "list_collectives",
    "list_creators",
    "list_users",
    "memberships_of",
    "normalize_email",
    "normalize_handle",
    "orgs_of",
    "remove_member",
    "set_password",
    "sign_up",
    "update_creator",
]

HANDLE_RE = re.compile(r"^[a-z0-9](?:[a-z0-9_]{1,28}[a-z0-9])$")
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,62}[a-z0-9])$")
# Handles that would shadow a page or read as official.
RESERVED_HANDLES = frozenset(
    {
        "admin",
        "api",
        "about",
        "account",
        "fairtrain",
        "help",
        "login",
        "logout",
        "me",
        "operator",
        "root",
        "rsl",
        "security",
        "signup",
        "static",
        "support",
        "system",
        "well_known",
    }
)


def normalize_email(email: str) -> str:
    """Validate the address's syntax and return it in canonical lower-case form."""
    try:
        result = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(f"invalid email address: {exc}") from None
    return result.normalized.lower()


def normalize_handle(handle: str) -> str:
    value = handle.strip().lstrip("@").lower()
    if not HANDLE_RE.match(value):
        raise InvalidHandle(
            "handle must be 3–30 characters of letters, digits and underscores, "
            "starting and ending with a letter or digit"
        )
    if value in RESERVED_HANDLES:
        raise InvalidHandle(f"handle {value!r} is reserved")
    return value


def _normalize_slug(slug: str) -> str:
    value = slug.strip().lower()
    if not SLUG_RE.match(value):
        raise InvalidInput("slug must be 3–64 characters of letters, digits and hyphens")
    return value


def _required_text(value: str, *, label: str, max_length: int) -> str:
    """``value`` stripped, or ``InvalidInput`` when it is empty or too long."""
    value = value.strip()
    if not value or len(value) > max_length:
        raise InvalidInput(f"{label} must be 1–{max_length} characters")
    return value


def _flush_unique(session: Session, error: Exception) -> None:
    """Flush; a unique-constraint race between the check and the insert becomes the named error."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise error from None


# --- users and roles -----------------------------------------------------------------------------------


def get_user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise UnknownUser(f"no user {user_id}")
    return user


def get_user_by_email(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise UnknownUser(f"no user with email {email.strip()}")
    return user


def list_users(session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.created_at, User.email)).all()


def create_user(
    session: Session,
    *,
    email: str,
    password: str | None,
    roles: Iterable[Role] = (),
    min_password_length: int,
) -> User:
    """A new user. ``password=None`` makes an account that cannot log in until a password is set."""
    normalized = normalize_email(email)
    if session.scalar(select(User.id).where(User.email == normalized)) is not None:
        raise EmailTaken(f"an account with email {normalized} already exists")
    if password is not None:
        check_strength(password, min_length=min_password_length, email=normalized)
    user = User(email=normalized, password_hash=hash_password(password) if password is not None else None)
    session.add(user)
    for role in sorted(set(roles)):
        user.role_rows.append(UserRole(role=role.value))
    _flush_unique(session, EmailTaken(f"an account with email {normalized} already exists"))
    return user


def grant_role(session: Session, *, user: User, role: Role) -> bool:
    """Give ``user`` the role; False when they already held it."""
    if user.has_role(role):
        return False
    user.role_rows.append(UserRole(role=role.value))
    session.flush()
    return True


def sign_up(
    session: Session,
    *,
    email: str,
    password: str,
    as_creator: bool,
    handle: str | None = None,
    display_name: str | None = None,
    min_password_length: int,
) -> User:
    """Self-service sign-up as a fan, or as a creator with a public handle."""
    if as_creator:
        if not handle:
            raise InvalidHandle("a creator account needs a handle")
        handle = normalize_handle(handle)
        if session.scalar(select(CreatorProfile.id).where(CreatorProfile.handle == handle)) is not None:
            raise HandleTaken(f"handle @{handle} is taken")
    user = create_user(
        session,
        email=email,
        password=password,
        roles=[Role.CREATOR if as_creator else Role.FAN],
        min_password_length=min_password_length,
    )
    if as_creator:
        assert handle is not None
        create_creator(session, handle=handle, display_name=display_name or handle, user=user)
    return user


def _recent_failures(
    session: Session, *, email: str, ip: str, since: datetime
) -> tuple[int, datetime | None]:
    count, oldest = session.execute(
        select(func.count(LoginFailure.id), func.min(LoginFailure.at)).where(
            LoginFailure.email == email, LoginFailure.ip == ip, LoginFailure.at > since
        )
    ).one()
    return int(count), oldest


def authenticate(
    session: Session,
    *,
    email: str,
    password: str,
    ip: str,
    max_failures: int,
    window_seconds: int,
    now: datetime | None = None,
) -> User:
    """The user whose email and password these are, or ``InvalidCredentials`` / ``LoginThrottled``.

    A failure is recorded in ``session``: the caller commits it even though the log-in failed.
    """
    now = now or utcnow()
    key = email.strip().lower()[:320]
    window = timedelta(seconds=window_seconds)
    count, oldest = _recent_failures(session, email=key, ip=ip, since=now - window)
    if count >= max_failures and oldest is not None:
        retry_after = max(1, int((oldest + window - now).total_seconds()) + 1)
        raise LoginThrottled(retry_after)
    user = session.scalar(select(User).where(User.email == key))
    if not verify_password(user.password_hash if user else None, password) or user is None:
        session.execute(
            delete(LoginFailure).where(LoginFailure.email == key, LoginFailure.at <= now - window)
        )
        session.add(LoginFailure(email=key, ip=ip, at=now))
        session.flush()
        raise InvalidCredentials()
    assert user.password_hash is not None
    session.execute(delete(LoginFailure).where(LoginFailure.email == key, LoginFailure.ip == ip))
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = now
    session.flush()
    return user


def set_password(session: Session, *, user: User, password: str, min_password_length: int) -> None:
    """Set a new password and end every existing session of the user."""
    check_strength(password, min_length=min_password_length, email=user.email)
    user.password_hash = hash_password(password)
    user.session_version += 1
    session.flush()


def change_password(
    session: Session, *, user: User, current_password: str, new_password: str, min_password_length: int
) -> None:
    if not verify_password(user.password_hash, current_password):
        raise InvalidCredentials("current password is wrong")
    if current_password == new_password:
        raise InvalidInput("the new password must differ from the current one")
    set_password(session, user=user, password=new_password, min_password_length=min_password_length)


# --- creators ------------------------------------------------------------------------------------------


def create_creator(
    session: Session,
    *,
    handle: str,
    display_name: str,
    user: User | None = None,
    legal_name: str | None = None,
    bio: str = "",
) -> CreatorProfile:
    handle = normalize_handle(handle)
    display_name = _required_text(display_name, label="display name", max_length=120)
    if session.scalar(select(CreatorProfile.id).where(CreatorProfile.handle == handle)) is not None:
        raise HandleTaken(f"handle @{handle} is taken")
    if user is not None and user.creator is not None:
        raise Conflict(f"{user.email} already has the creator profile @{user.creator.handle}")
    creator = CreatorProfile(
        handle=handle,
        display_name=display_name,
        legal_name=(legal_name or "").strip() or None,
        bio=bio.strip(),
    )
    session.add(creator)
    if user is not None:
        creator.user = user
        grant_role(session, user=user, role=Role.CREATOR)
    _flush_unique(session, HandleTaken(f"handle @{handle} is taken"))
    return creator


def update_creator(
    session: Session,
    *,
    creator: CreatorProfile,
    display_name: str | None = None,
    legal_name: str | None = None,
    bio: str | None = None,
) -> CreatorProfile:
    if display_name is not None:
        creator.display_name = _required_text(display_name, label="display name", max_length=120)
    if legal_name is not None:
        creator.legal_name = legal_name.strip()[:200] or None
    if bio is not None:
        if len(bio) > 5000:
            raise InvalidInput("bio must be at most 5,000 characters")
        creator.bio = bio.strip()
    session.flush()
    return creator


def get_creator(session: Session, handle: str) -> CreatorProfile:
    creator = session.scalar(
        select(CreatorProfile).where(CreatorProfile.handle == handle.lstrip("@").lower())
    )
    if creator is None:
        raise UnknownCreator(f"no creator @{handle.lstrip('@')}")
    return creator


def list_creators(session: Session, *, limit: int = 100, offset: int = 0) -> Sequence[CreatorProfile]:
    return session.scalars(
        select(CreatorProfile).order_by(CreatorProfile.handle).limit(limit).offset(offset)
    ).all()


def count_creators(session: Session) -> int:
    return int(session.scalar(select(func.count(CreatorProfile.id))) or 0)


# --- collectives ---------------------------------------------------------------------------------------


def create_collective(
    session: Session, *, slug: str, name: str, operator: User, description: str = ""
) -> Collective:
    slug = _normalize_slug(slug)
    name = _required_text(name, label="collective name", max_length=200)
    if session.scalar(select(Collective.id).where(Collective.slug == slug)) is not None:
        raise SlugTaken(f"a collective with slug {slug!r} already exists")
    collective = Collective(slug=slug, name=name, description=description.strip(), operator=operator)
    grant_role(session, user=operator, role=Role.OPERATOR)
    session.add(collective)
    _flush_unique(session, SlugTaken(f"a collective with slug {slug!r} already exists"))
    return collective


def get_collective(session: Session, slug: str) -> Collective:
    collective = session.scalar(select(Collective).where(Collective.slug == slug.strip().lower()))
    if collective is None:
        raise UnknownCollective(f"no collective {slug!r}")
    return collective


def list_collectives(session: Session, *, limit: int = 100, offset: int = 0) -> Sequence[Collective]:
    return session.scalars(select(Collective).order_by(Collective.slug).limit(limit).offset(offset)).all()


def count_collectives(session: Session) -> int:
    return int(session.scalar(select(func.count(Collective.id))) or 0)


def active_members(collective: Collective) -> list[CollectiveMembership]:
    return [m for m in collective.memberships if m.left_at is None]


def _active_membership(
    session: Session, *, collective: Collective, creator: CreatorProfile
) -> CollectiveMembership | None:
    return session.scalar(
        select(CollectiveMembership).where(
            CollectiveMembership.collective_id == collective.id,
            CollectiveMembership.creator_id == creator.id,
            CollectiveMembership.left_at.is_(None),
        )
    )


def add_member(
    session: Session, *, collective: Collective, creator: CreatorProfile, now: datetime | None = None
) -> CollectiveMembership:
    if _active_membership(session, collective=collective, creator=creator) is not None:
        raise Conflict(f"@{creator.handle} is already a member of {collective.slug}")
    membership = CollectiveMembership(collective=collective, creator=creator, joined_at=now or utcnow())
    session.add(membership)
    _flush_unique(session, Conflict(f"@{creator.handle} is already a member of {collective.slug}"))
    return membership


def remove_member(
    session: Session, *, collective: Collective, creator: CreatorProfile, now: datetime | None = None
) -> CollectiveMembership:
    membership = _active_membership(session, collective=collective, creator=creator)
    if membership is None:
        raise NotAMember(f"@{creator.handle} is not a member of {collective.slug}")
    membership.left_at = max(now or utcnow(), membership.joined_at)
    session.flush()
    return membership


# --- licensee organisations ----------------------------------------------------------------------------


def create_licensee_org(
    session: Session, *, name: str, contact_name: str, contact_email: str, billing_email: str
) -> LicenseeOrg:
    name = _required_text(name, label="organisation name", max_length=200)
    if session.scalar(select(LicenseeOrg.id).where(LicenseeOrg.name == name)) is not None:
        raise Conflict(f"an organisation named {name!r} already exists")
    org = LicenseeOrg(
        name=name,
        contact_name=contact_name.strip(),
        contact_email=normalize_email(contact_email),
        billing_email=normalize_email(billing_email),
    )
    session.add(org)
    _flush_unique(session, Conflict(f"an organisation named {name!r} already exists"))
    return org


def get_licensee_org(session: Session, name: str) -> LicenseeOrg:
    org = session.scalar(select(LicenseeOrg).where(LicenseeOrg.name == name.strip()))
    if org is None:
        raise UnknownOrg(f"no organisation named {name!r}")
    return org


def add_licensee_member(session: Session, *, org: LicenseeOrg, user: User) -> LicenseeMember:
    if session.get(LicenseeMember, (org.id, user.id)) is not None:
        raise Conflict(f"{user.email} already belongs to {org.name}")
    member = LicenseeMember(org=org, user=user)
    session.add(member)
    grant_role(session, user=user, role=Role.LICENSEE)
    session.flush()
    return member


def orgs_of(session: Session, user: User) -> Sequence[LicenseeOrg]:
    return session.scalars(
        select(LicenseeOrg)
        .join(LicenseeMember)
        .where(LicenseeMember.user_id == user.id)
        .order_by(LicenseeOrg.name)
    ).all()


def memberships_of(session: Session, creator: CreatorProfile) -> Sequence[CollectiveMembership]:
    """Every stay of ``creator`` in a collective, current ones first."""
    return session.scalars(
        select(CollectiveMembership)
        .where(CollectiveMembership.creator_id == creator.id)
        .order_by(CollectiveMembership.left_at.is_not(None), CollectiveMembership.joined_at.desc())
    ).all()
