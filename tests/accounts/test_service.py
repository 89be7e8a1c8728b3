from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairtrain.accounts import service
from fairtrain.accounts.demo import DEMO_LOGINS, seed_demo
from fairtrain.accounts.errors import (
    EmailTaken,
    HandleTaken,
    InvalidCredentials,
    InvalidEmail,
    InvalidHandle,
    LoginThrottled,
    NotAMember,
    SlugTaken,
    UnknownCreator,
    WeakPassword,
)
from fairtrain.accounts.models import Collective, CreatorProfile, LoginFailure, Role, User
from fairtrain.db.base import utcnow
from fairtrain.errors import Conflict

PASSWORD = "tidal-lantern-orchard-41"


def _user(db: Session, email: str = "ana@example.com", roles: tuple[Role, ...] = (Role.FAN,)) -> User:
    return service.create_user(db, email=email, password=PASSWORD, roles=roles, min_password_length=10)


def test_create_user_normalises_email_and_hashes_password(db: Session) -> None:
    user = _user(db, " Ana@Example.COM ")
    db.commit()
    assert user.id.startswith("usr_")
    assert user.email == "ana@example.com"
    assert user.password_hash and PASSWORD not in user.password_hash
    assert user.roles == {Role.FAN}
    assert user.created_at.tzinfo is not None


@pytest.mark.parametrize("email", ["not-an-email", "a@", "@example.com", "a b@example.com"])
def test_invalid_emails_are_refused(db: Session, email: str) -> None:
    with pytest.raises(InvalidEmail):
        _user(db, email)


def test_duplicate_email_is_refused_case_insensitively(db: Session) -> None:
    _user(db)
    db.commit()
    with pytest.raises(EmailTaken):
        _user(db, "ANA@example.com")


def test_user_may_hold_several_roles(db: Session) -> None:
    user = _user(db, roles=(Role.FAN, Role.LICENSEE))
    assert service.grant_role(db, user=user, role=Role.OPERATOR) is True
    assert service.grant_role(db, user=user, role=Role.OPERATOR) is False
    db.commit()
    db.expire_all()
    assert service.get_user_by_email(db, "ana@example.com").roles == {Role.FAN, Role.LICENSEE, Role.OPERATOR}


def test_sign_up_as_creator_makes_profile_and_role(db: Session) -> None:
    user = service.sign_up(
        db,
        email="mo@example.com",
        password=PASSWORD,
        as_creator=True,
        handle="@Mo_Art",
        min_password_length=10,
    )
    db.commit()
    assert user.roles == {Role.CREATOR}
    assert user.creator is not None
    assert user.creator.handle == "mo_art"
    assert user.creator.display_name == "mo_art"


@pytest.mark.parametrize("handle", ["ab", "has space", "-dash", "under_", "admin", "x" * 31, "émile"])
def test_bad_handles_are_refused(db: Session, handle: str) -> None:
    with pytest.raises(InvalidHandle):
        service.sign_up(
            db,
            email="mo@example.com",
            password=PASSWORD,
            as_creator=True,
            handle=handle,
            min_password_length=10,
        )


def test_taken_handle_refused_before_creating_the_user(db: Session) -> None:
    service.create_creator(db, handle="mira", display_name="Mira")
    db.commit()
    with pytest.raises(HandleTaken):
        service.sign_up(
            db,
            email="x@example.com",
            password=PASSWORD,
            as_creator=True,
            handle="Mira",
            min_password_length=10,
        )
    db.rollback()
    assert db.scalar(select(func.count(User.id))) == 0


def test_weak_password_creates_nothing(db: Session) -> None:
    with pytest.raises(WeakPassword):
        service.sign_up(
            db, email="x@example.com", password="password1", as_creator=False, min_password_length=10
        )
    db.rollback()
    assert db.scalar(select(func.count(User.id))) == 0


def test_authenticate_records_last_login(db: Session) -> None:
    _user(db)
    db.commit()
    user = service.authenticate(
        db, email="ANA@example.com", password=PASSWORD, ip="10.0.0.1", max_failures=5, window_seconds=900
    )
    assert user.last_login_at is not None


def test_unknown_email_and_wrong_password_fail_alike(db: Session) -> None:
    _user(db)
    for email in ("ana@example.com", "nobody@example.com"):
        with pytest.raises(InvalidCredentials, match="wrong email or password"):
            service.authenticate(
                db, email=email, password="nope", ip="10.0.0.1", max_failures=5, window_seconds=900
            )


def test_login_throttling_per_account_and_ip(db: Session) -> None:
    _user(db)
    now = utcnow()
    kwargs = {"email": "ana@example.com", "max_failures": 5, "window_seconds": 900}
    for i in range(5):
        with pytest.raises(InvalidCredentials):
            service.authenticate(
                db, password="wrong", ip="10.0.0.1", now=now + timedelta(seconds=i), **kwargs
            )  # type: ignore[arg-type]
    # Even the right password is refused while throttled, with the time to wait.
    with pytest.raises(LoginThrottled) as caught:
        service.authenticate(db, password=PASSWORD, ip="10.0.0.1", now=now + timedelta(seconds=10), **kwargs)  # type: ignore[arg-type]
    assert 880 <= caught.value.retry_after <= 900
    # Another IP is not affected, and the window passes.
    service.authenticate(db, password=PASSWORD, ip="10.0.0.2", now=now + timedelta(seconds=11), **kwargs)  # type: ignore[arg-type]
    later = now + timedelta(seconds=905)
    service.authenticate(db, password=PASSWORD, ip="10.0.0.1", now=later, **kwargs)  # type: ignore[arg-type]
    # Success clears the failures for that account and IP.
    assert db.scalar(select(func.count(LoginFailure.id)).where(LoginFailure.ip == "10.0.0.1")) == 0


def test_change_password_ends_other_sessions(db: Session) -> None:
    user = _user(db)
    version = user.session_version
    with pytest.raises(InvalidCredentials, match="current password"):
        service.change_password(
            db, user=user, current_password="wrong", new_password="new-lantern-77", min_password_length=10
        )
    service.change_password(
        db,
        user=user,
        current_password=PASSWORD,
        new_password="new-lantern-orchard-77",
        min_password_length=10,
    )
    assert user.session_version == version + 1
    with pytest.raises(InvalidCredentials):
        service.authenticate(
            db, email=user.email, password=PASSWORD, ip="1", max_failures=5, window_seconds=900
        )
    service.authenticate(
        db, email=user.email, password="new-lantern-orchard-77", ip="1", max_failures=5, window_seconds=900
    )


def test_user_without_password_cannot_log_in(db: Session) -> None:
    service.create_user(db, email="np@example.com", password=None, min_password_length=10)
    with pytest.raises(InvalidCredentials):
        service.authenticate(
            db, email="np@example.com", password="", ip="1", max_failures=5, window_seconds=900
        )


def test_creator_profile_for_existing_user_grants_creator_role(db: Session) -> None:
    user = _user(db)
    creator = service.create_creator(db, handle="ana", display_name="Ana", legal_name=" Ana Lima ", user=user)
    assert creator.id.startswith("crt_")
    assert creator.legal_name == "Ana Lima"
    assert user.roles == {Role.FAN, Role.CREATOR}
    with pytest.raises(Conflict, match="already has the creator profile"):
        service.create_creator(db, handle="ana2", display_name="Ana", user=user)


def test_update_creator(db: Session) -> None:
    creator = service.create_creator(db, handle="ana", display_name="Ana")
    service.update_creator(db, creator=creator, display_name="Ana L.", bio="  Painter. ", legal_name="")
    assert (creator.display_name, creator.bio, creator.legal_name) == ("Ana L.", "Painter.", None)
    with pytest.raises(Exception, match="display name"):
        service.update_creator(db, creator=creator, display_name="  ")


def test_get_creator_by_handle(db: Session) -> None:
    service.create_creator(db, handle="ana", display_name="Ana")
    assert service.get_creator(db, "@ANA").handle == "ana"
    with pytest.raises(UnknownCreator):
        service.get_creator(db, "nobody")


def test_collective_membership_history(db: Session) -> None:
    operator = _user(db, "op@example.com")
    collective = service.create_collective(db, slug="North-Light", name="North Light", operator=operator)
    assert collective.slug == "north-light"
    assert operator.has_role(Role.OPERATOR)
    ana = service.create_creator(db, handle="ana", display_name="Ana")
    now = utcnow()
    service.add_member(db, collective=collective, creator=ana, now=now)
    with pytest.raises(Conflict, match="already a member"):
        service.add_member(db, collective=collective, creator=ana)
    service.remove_member(db, collective=collective, creator=ana, now=now + timedelta(days=30))
    with pytest.raises(NotAMember):
        service.remove_member(db, collective=collective, creator=ana)
    service.add_member(db, collective=collective, creator=ana, now=now + timedelta(days=60))
    db.commit()
    db.expire_all()
    collective = service.get_collective(db, "north-light")
    stays = [(m.joined_at - now, m.left_at and m.left_at - now) for m in collective.memberships]
    assert stays == [(timedelta(0), timedelta(days=30)), (timedelta(days=60), None)]
    assert [m.creator.handle for m in service.active_members(collective)] == ["ana"]
    with pytest.raises(SlugTaken):
        service.create_collective(db, slug="north-light", name="Other", operator=operator)


def test_licensee_org_members_get_the_role(db: Session) -> None:
    org = service.create_licensee_org(
        db,
        name="Lab",
        contact_name="Dana",
        contact_email="Dana@Lab.example.com",
        billing_email="ap@lab.example.com",
    )
    assert org.contact_email == "dana@lab.example.com"
    user = _user(db, "dana@lab.example.com")
    service.add_licensee_member(db, org=org, user=user)
    assert user.has_role(Role.LICENSEE)
    assert [o.name for o in service.orgs_of(db, user)] == ["Lab"]
    with pytest.raises(Conflict):
        service.add_licensee_member(db, org=org, user=user)


def test_demo_is_idempotent(db: Session) -> None:
    assert seed_demo(db, min_password_length=10) is True
    db.commit()
    assert seed_demo(db, min_password_length=10) is False
    db.commit()
    assert db.scalar(select(func.count(User.id))) == len(DEMO_LOGINS)
    assert db.scalar(select(func.count(CreatorProfile.id))) == 2
    assert db.scalar(select(func.count(Collective.id))) == 1
    collective = service.get_collective(db, "northern-light")
    assert len(service.active_members(collective)) == 2
    for login in DEMO_LOGINS:
        user = service.authenticate(
            db, email=login.email, password=login.password, ip="1", max_failures=5, window_seconds=900
        )
        assert login.role in {r.value for r in user.roles}
