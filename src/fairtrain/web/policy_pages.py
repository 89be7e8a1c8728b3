"""The AI policy page: a creator (or an operator, for the site) chooses what AI may do with the work, sees
every signal those choices produce before saving, and saves them as versioned rule changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from fairtrain.accounts.models import Collective, CreatorProfile, Role, User
from fairtrain.catalog import service as catalog
from fairtrain.catalog.models import Collection
from fairtrain.config import Settings
from fairtrain.errors import FairtrainError, Forbidden, InvalidInput, NotFound
from fairtrain.rights.crawlers import CrawlerRegistry
from fairtrain.rights.policy import (
    CONCRETE_USAGES,
    PAYMENT_TYPES,
    SITE,
    USER_TYPES,
    Decision,
    Rule,
    Scope,
    changes_at,
    concrete_rules_at,
    format_micros,
)
from fairtrain.rights.service import (
    PAYMENT_WORDS,
    USAGE_LABELS,
    USAGE_WORDS,
    USER_TYPE_WORDS,
    PolicySubject,
    build_rule,
    describe_rule,
    describe_stored,
    inherited_policy,
    preview_signals,
    save_scope_rules,
)
from fairtrain.stamp.service import protected_asset_ids
from fairtrain.web.catalog_api import owned_creator
from fairtrain.web.deps import DbDep, SettingsDep, UserDep
from fairtrain.web.protect_pages import protect_ids, protection_context
from fairtrain.web.security import check_csrf
from fairtrain.web.templating import render

__all__ = ["router"]

router = APIRouter(prefix="/policy", dependencies=[Depends(check_csrf)], include_in_schema=False)

CHOICES = (("allow", "Allow"), ("deny", "Refuse"), ("licence", "Only with a licence"))
# What a new licence is most likely paid by, per usage; the person can pick another.
_DEFAULT_PAYMENT = {"search": "crawl", "ai-input": "use", "ai-index": "crawl", "ai-train": "training"}
_DEFAULT_CURRENCY = "USD"


@dataclass(frozen=True)
class RowForm:
    """One usage's choice as the form holds it: strings, as typed."""

    usage: str
    action: str  # inherit | allow | deny | licence
    payment: str = ""
    price: str = ""
    currency: str = _DEFAULT_CURRENCY
    user_types: tuple[str, ...] = ()
    territories: str = ""

    @classmethod
    def of(cls, usage: str, rule: Rule | None) -> RowForm:
        if rule is None or rule.action != "licence":
            return cls(usage, rule.action if rule else "inherit", payment=_DEFAULT_PAYMENT[usage])
        return cls(
            usage,
            "licence",
            payment=rule.payment or "",
            price=format_micros(rule.amount_micros) if rule.amount_micros is not None else "",
            currency=rule.currency or _DEFAULT_CURRENCY,
            user_types=rule.user_types,
            territories=", ".join(rule.territories),
        )


async def _read_rows(request: Request) -> dict[str, RowForm]:
    """The posted choices, one row per usage (a usage missing from the form keeps ``inherit``)."""
    form = await request.form()

    def text(name: str) -> str:
        value = form.get(name)
        return value if isinstance(value, str) else ""

    return {
        usage: RowForm(
            usage,
            text(f"{usage}-action") or "inherit",
            payment=text(f"{usage}-payment"),
            price=text(f"{usage}-price"),
            currency=text(f"{usage}-currency"),
            user_types=tuple(v for v in form.getlist(f"{usage}-user_types") if isinstance(v, str)),
            territories=text(f"{usage}-territories"),
        )
        for usage in CONCRETE_USAGES
    }


async def _read_scope(request: Request) -> str:
    form = await request.form()
    value = form.get("scope")
    return value if isinstance(value, str) else ""


RowsDep = Annotated[dict[str, RowForm], Depends(_read_rows)]
PostedScopeDep = Annotated[str, Depends(_read_scope)]


def _wanted(rows: dict[str, RowForm]) -> dict[str, Rule | None]:
    """The rules the rows ask for; the first bad row raises, named in plain words."""
    wanted: dict[str, Rule | None] = {}
    for usage, row in rows.items():
        try:
            wanted[usage] = build_rule(
                action=row.action,
                payment=row.payment,
                price=row.price,
                currency=row.currency,
                user_types=row.user_types,
                territories=row.territories,
            )
        except InvalidInput as exc:
            raise InvalidInput(f"{USAGE_LABELS[usage]}: {exc.message}") from None
    return wanted


# --- which scope ---------------------------------------------------------------------------------------


def _subject(db: Session, user: User, scope: str) -> PolicySubject:
    """The scope named by ``?scope=`` that ``user`` may edit: '' (their own creator scope), 'site'
    (operators), 'creator:HANDLE' (themselves, or anyone for an operator), 'collection:ID' (their own).
    Someone else's collection is "not found", never "forbidden": ids are not to be probed."""
    operator = user.has_role(Role.OPERATOR)
    if scope == "site" or (scope == "" and user.creator is None and operator):
        if not operator:
            raise Forbidden("only an operator may set the site's policy")
        return PolicySubject(SITE)
    if scope == "":
        if user.creator is None:
            raise NotFound("this account has no creator profile")
        return PolicySubject(Scope("creator", user.creator.id), creator=user.creator)
    kind, _, ident = scope.partition(":")
    if kind == "creator" and ident:
        creator = owned_creator(db, user, ident)
        return PolicySubject(Scope("creator", creator.id), creator=creator)
    if kind == "collection" and ident:
        collection = db.get(Collection, ident)
        owner = db.get(CreatorProfile, collection.creator_id) if collection else None
        if collection is None or owner is None or (owner.user_id != user.id and not operator):
            raise NotFound(f"no collection {ident}")
        return PolicySubject(Scope("collection", collection.id), creator=owner, collection=collection)
    raise NotFound(f"no policy scope {scope!r}")


def _scope_param(subject: PolicySubject, user: User) -> str:
    if subject.site_wide:
        return "site"
    if subject.collection is not None:
        return f"collection:{subject.collection.id}"
    assert subject.creator is not None
    return "" if subject.creator.user_id == user.id else f"creator:{subject.creator.handle}"


def _url(scope: str, **extra: str) -> str:
    query = urlencode({k: v for k, v in {"scope": scope, **extra}.items() if v})
    return "/policy" + (f"?{query}" if query else "")


def _title(subject: PolicySubject) -> str:
    if subject.site_wide:
        return "The site's default"
    if subject.collection is not None:
        return f"Collection: {subject.collection.name}"
    assert subject.creator is not None
    return f"All of @{subject.creator.handle}'s work"


def _scopes(db: Session, user: User, subject: PolicySubject) -> list[tuple[str, str, bool]]:
    """(label, url, current) for the scope selector: the creator, their collections, and the site."""
    entries: list[tuple[str, str, bool]] = []
    creator = subject.creator or user.creator
    if creator is not None:
        own = _scope_param(PolicySubject(Scope("creator", creator.id), creator=creator), user)
        entries.append(
            (
                f"All my work (@{creator.handle})" if creator.user_id == user.id else f"@{creator.handle}",
                _url(own),
                subject.scope.kind == "creator",
            )
        )
        for collection in catalog.list_collections(db, creator=creator):
            param = f"collection:{collection.id}"
            entries.append(
                (collection.name, _url(param), subject.scope == Scope("collection", collection.id))
            )
    if user.has_role(Role.OPERATOR):
        entries.append(("Site default (operator)", _url("site"), subject.site_wide))
    return entries


def _inherited_from(decision: Decision, subject: PolicySubject, user: User, db: Session) -> str:
    if decision.default:
        return "fairtrain's default"
    kind = decision.scope.kind
    if kind == "site":
        return "the site default"
    if kind == "collective":
        collective = db.get(Collective, decision.scope.id)
        return f"the collective {collective.name}" if collective else "a collective"
    if kind == "creator":
        mine = subject.creator is not None and subject.creator.user_id == user.id
        return "your creator settings" if mine else "the creator's settings"
    return kind


# --- rendering -----------------------------------------------------------------------------------------


def _crawlers(settings: Settings) -> CrawlerRegistry:
    return CrawlerRegistry.current(settings.data_dir)


def _preview_context(
    db: Session, settings: Settings, subject: PolicySubject, rows: dict[str, RowForm]
) -> dict[str, object]:
    try:
        wanted = _wanted(rows)
    except InvalidInput as exc:
        return {"preview": None, "preview_error": exc.message}
    preview = preview_signals(
        db, subject=subject, wanted=wanted, base_url=settings.base_url, crawlers=_crawlers(settings)
    )
    return {"preview": preview, "preview_error": None}


def _history(db: Session, user: User, scope: Scope) -> list[dict[str, str]]:
    rows = []
    names: dict[str | None, str] = {None: "command line", user.id: "you"}
    for change in changes_at(db, scope):
        if change.changed_by not in names:
            who = db.get(User, change.changed_by)
            names[change.changed_by] = who.email if who else "a deleted account"
        rows.append(
            {
                "when": change.changed_at.strftime("%Y-%m-%d %H:%M UTC"),
                "who": names[change.changed_by],
                "usage": USAGE_LABELS.get(change.usage, change.usage),
                "old": describe_stored(change.old),
                "new": describe_stored(change.new),
            }
        )
    return rows


def _page(
    request: Request,
    db: Session,
    settings: Settings,
    user: User,
    subject: PolicySubject,
    rows: dict[str, RowForm] | None = None,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    saved = concrete_rules_at(db, subject.scope)
    rows = rows or {usage: RowForm.of(usage, saved[usage]) for usage in CONCRETE_USAGES}
    inherited = inherited_policy(db, subject)
    scope = _scope_param(subject, user)
    context: dict[str, object] = {
        "subject": subject,
        "scope": scope,
        "title": _title(subject),
        "scopes": _scopes(db, user, subject),
        "rows": [rows[usage] for usage in CONCRETE_USAGES],
        "words": {
            usage: USAGE_WORDS[usage].replace("my work", "the work")
            if subject.site_wide
            else USAGE_WORDS[usage]
            for usage in CONCRETE_USAGES
        },
        "inherited": {
            usage: (
                describe_rule(inherited[usage].rule),
                _inherited_from(inherited[usage], subject, user, db),
            )
            for usage in CONCRETE_USAGES
        },
        "choices": CHOICES,
        "payments": [(p, PAYMENT_WORDS[p][0]) for p in PAYMENT_TYPES],
        "user_types": [(u, USER_TYPE_WORDS[u]) for u in USER_TYPES],
        "history": _history(db, user, subject.scope),
        "error": error,
        "notice": request.query_params.get("notice"),
        **_preview_context(db, settings, subject, rows),
    }
    return render(request, "policy.html", context, status_code=status_code)


@router.get("")
def policy_page(
    request: Request, db: DbDep, settings: SettingsDep, user: UserDep, scope: str = ""
) -> Response:
    return _page(request, db, settings, user, _subject(db, user, scope))


@router.post("/preview")
def policy_preview(
    request: Request, db: DbDep, settings: SettingsDep, user: UserDep, rows: RowsDep, scope: PostedScopeDep
) -> Response:
    """htmx fragment: every signal for the unsaved choices. Nothing is written; a choice that cannot be
    saved is shown in the fragment itself (200, so htmx swaps it in)."""
    subject = _subject(db, user, scope)
    return render(request, "_policy_preview.html", _preview_context(db, settings, subject, rows))


@router.post("")
def save_policy(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    user: UserDep,
    rows: RowsDep,
    scope: PostedScopeDep,
    background: BackgroundTasks,
) -> Response:
    subject = _subject(db, user, scope)
    try:
        wanted = _wanted(rows)
        changes = save_scope_rules(db, scope=subject.scope, wanted=wanted, changed_by=user.id)
    except FairtrainError as exc:
        db.rollback()  # nothing of a refused form is kept
        return _page(
            request, db, settings, user, _subject(db, user, scope), rows, error=exc.message, status_code=400
        )
    notice = f"saved-{len(changes)}" if changes else "unchanged"
    if changes and (stale := protected_asset_ids(db, scope=subject.scope)):
        # Protected copies carry the policy inside them (IPTC, C2PA): remake them, after the reply.
        background.add_task(protect_ids, request.app.state.sessionmaker, protection_context(request), stale)
    return RedirectResponse(_url(_scope_param(subject, user), notice=notice), status_code=303)
