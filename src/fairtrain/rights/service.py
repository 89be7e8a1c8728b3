"""Building the signals of a whole site from the database; what-if previews of one scope's policy; and the
cache that keeps the served signal files cheap."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from sqlalchemy import ScalarSelect, func, select
from sqlalchemy.orm import Session

from fairtrain.accounts.models import CollectiveMembership, CreatorProfile
from fairtrain.catalog.models import Collection
from fairtrain.errors import InvalidInput
from fairtrain.rights.doors import apache_htaccess, caddy_snippet, nginx_snippet, terms_clause
from fairtrain.rights.models import PolicyChange
from fairtrain.rights.policy import (
    CONCRETE_USAGES,
    SHORTHANDS,
    EffectivePolicy,
    Rule,
    Scope,
    concrete_rules_at,
    effective_policy,
    expand,
    format_micros,
    parse_price,
    rules_at,
    set_rule,
)
from fairtrain.rights.signals import (
    CrawlerLike,
    CreatorSignals,
    SiteSignals,
    ai_txt,
    html_tags,
    iptc_data_mining,
    license_xml,
    response_headers,
    robots_txt,
    tdm_policy_document,
    tdmrep_json,
    training_mining_entries,
)

__all__ = [
    "PAYMENT_WORDS",
    "USAGE_LABELS",
    "USAGE_WORDS",
    "USER_TYPE_WORDS",
    "PolicySubject",
    "SignalCache",
    "SignalPreview",
    "build_rule",
    "creator_signals",
    "describe_policy",
    "describe_rule",
    "describe_stored",
    "export_signals",
    "inherited_policy",
    "preview_signals",
    "save_scope_rules",
    "signals_version",
    "site_signals",
    "subject_policy",
]

SITE_NAME = "fairtrain"


def site_signals(
    session: Session,
    *,
    base_url: str,
    site_name: str = SITE_NAME,
    overrides: Mapping[Scope, Mapping[str, Rule]] | None = None,
) -> SiteSignals:
    """The site's policy and every creator's, ready to render (``overrides``: see ``effective_policy``)."""
    creators = session.scalars(select(CreatorProfile).order_by(CreatorProfile.handle)).all()
    return SiteSignals(
        base_url=base_url,
        site_name=site_name,
        policy=effective_policy(session, overrides=overrides),
        creators=[
            CreatorSignals(
                c.handle, c.display_name, effective_policy(session, creator=c, overrides=overrides)
            )
            for c in creators
        ],
    )


def creator_signals(
    session: Session, *, base_url: str, creator: CreatorProfile, site_name: str = SITE_NAME
) -> tuple[SiteSignals, CreatorSignals]:
    """Just what one creator's pages need for their headers and tags (no other creator is looked at)."""
    own = CreatorSignals(creator.handle, creator.display_name, effective_policy(session, creator=creator))
    site = SiteSignals(
        base_url=base_url, site_name=site_name, policy=effective_policy(session), creators=[own]
    )
    return site, own


def export_signals(site: SiteSignals, crawlers: Iterable[CrawlerLike], *, out_dir: Path) -> list[Path]:
    """Every signal as files, for a site fairtrain does not serve; returns what was written."""
    crawlers = list(crawlers)
    files: dict[str, str] = {
        "robots.txt": robots_txt(site, crawlers),
        "ai.txt": ai_txt(site),
        "license.xml": license_xml(site),
        ".well-known/tdmrep.json": tdmrep_json(site),
        ".well-known/tdm/site.json": json.dumps(tdm_policy_document(site), indent=2) + "\n",
        "server/nginx.conf": nginx_snippet(site, crawlers),
        "server/Caddyfile": caddy_snippet(site, crawlers),
        "server/.htaccess": apache_htaccess(site, crawlers),
        "terms-ai.txt": terms_clause(site, owner=site.site_name),
        "headers.txt": "".join(f"{k}: {v}\n" for k, v in response_headers(site).items()),
        "head.html": "".join(_tag(t) + "\n" for t in html_tags(site)),
    }
    for creator in site.creators:
        files[f".well-known/tdm/@{creator.handle}.json"] = (
            json.dumps(tdm_policy_document(site, creator), indent=2) + "\n"
        )
        files[f"@{creator.handle}/license.xml"] = license_xml(site, only=creator.handle)
    written = []
    for name, body in sorted(files.items()):
        path = out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(body, encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    return written


def _tag(attributes: dict[str, str]) -> str:
    tag = attributes["tag"]
    rest = " ".join(f'{k}="{escape(v)}"' for k, v in attributes.items() if k != "tag")
    return f"<{tag} {rest}>"


# --- one scope's policy, in plain words ---------------------------------------------------------------

# Short names, for messages and the change history.
USAGE_LABELS = {
    "all": "Everything",
    "ai-all": "All AI uses",
    "search": "Search engines",
    "ai-input": "AI answers",
    "ai-index": "AI indexing",
    "ai-train": "AI training",
}
USAGE_WORDS = {
    "search": "Search engines (Google, Bing…) may index and show my work",
    "ai-input": "AI assistants and AI search may read my work to answer a question (RAG, AI Overviews)",
    "ai-index": "AI systems may store my work in a search index or embeddings",
    "ai-train": "AI companies may train models on my work",
}
# (what the choice is called on the form, how a sentence says a price is paid, the same without a price)
PAYMENT_WORDS = {
    "crawl": ("per crawl: each time a crawler fetches a work", "per crawl", "paid per crawl"),
    "use": ("per use: each time an AI uses a work in an answer", "per use", "paid per use"),
    "training": ("training licence: a fee to train on the work", "as a training fee", "for a training fee"),
    "purchase": ("one-off purchase", "as a one-off purchase", "bought once"),
    "subscription": ("subscription", "by subscription", "by subscription"),
    "contribution": ("contribution: a payment towards the work", "as a contribution", "for a contribution"),
    "attribution": ("credit only: name me, no payment", "with credit to me", "with credit to me"),
    "free": ("free licence: no payment, but they must ask", "free of charge", "free of charge"),
}
USER_TYPE_WORDS = {
    "commercial": "companies (commercial use)",
    "non-commercial": "non-commercial users",
    "education": "education",
    "government": "government",
    "personal": "personal use",
}

# The verb phrase of each usage in a sentence: (may, may not, needs a licence ... to).
_SENTENCE = {
    "search": ("search engines may index {it}", "search engines may not index {it}", "to index {it}"),
    "ai-input": (
        "AI assistants may read {it} to answer questions",
        "AI assistants may not read {it}",
        "to read {it} to answer questions",
    ),
    "ai-index": (
        "AI systems may store {it} in a search index",
        "AI systems may not store {it} in a search index",
        "to store {it} in a search index",
    ),
    "ai-train": ("AI companies may train on {it}", "AI companies may not train on {it}", "to train on {it}"),
}
_WHO = {
    "search": "search engines",
    "ai-input": "AI assistants",
    "ai-index": "AI systems",
    "ai-train": "AI companies",
}


def _terms(rule: Rule) -> str:
    """' at 0.02 USD per crawl, companies (commercial use) only, in US, EU' (leading space) or ''."""
    words = PAYMENT_WORDS[rule.payment] if rule.payment else None
    parts = []
    if rule.amount_micros is not None:
        parts.append(
            f" at {format_micros(rule.amount_micros)} {rule.currency}{' ' + words[1] if words else ''}"
        )
    elif words:
        parts.append(f" {words[2]}")
    if rule.user_types:
        parts.append(", " + " and ".join(USER_TYPE_WORDS[u] for u in rule.user_types) + " only")
    if rule.territories:
        parts.append(", in " + ", ".join(rule.territories))
    return "".join(parts)


def describe_rule(rule: Rule) -> str:
    """'Allow', 'Refuse', 'Only with a licence at 0.02 USD per crawl'."""
    if rule.action == "allow":
        return "Allow"
    if rule.action == "deny":
        return "Refuse"
    return "Only with a licence" + _terms(rule)


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list | tuple) else ()


def describe_stored(stored: Mapping[str, object] | None) -> str:
    """A rule as a change record stores it (``Rule.as_dict``; ``None`` = no rule), in plain words."""
    if stored is None:
        return "inherited"
    try:
        rule = Rule(
            action=str(stored["action"]),
            payment=str(stored["payment"]) if stored.get("payment") else None,
            amount_micros=int(str(stored["amount_micros"]))
            if stored.get("amount_micros") is not None
            else None,
            currency=str(stored["currency"]) if stored.get("currency") else None,
            user_types=_strings(stored.get("user_types")),
            territories=_strings(stored.get("territories")),
        )
    except (KeyError, ValueError, InvalidInput):
        return json.dumps(dict(stored))  # written by an older version: shown as stored
    return describe_rule(rule)


def describe_policy(policy: EffectivePolicy, *, it: str = "your work") -> str:
    """One plain sentence: 'Search engines may index your work; AI companies need a licence at 0.02 USD
    per crawl to train on it.'"""
    parts = []
    for index, usage in enumerate(CONCRETE_USAGES):
        rule = policy[usage].rule
        allowed, refused, needs = _SENTENCE[usage]
        pronoun = it if index == 0 else "it"
        if rule.action == "allow":
            parts.append(allowed.format(it=pronoun))
        elif rule.action == "deny":
            parts.append(refused.format(it=pronoun))
        else:
            parts.append(f"{_WHO[usage]} need a licence{_terms(rule)} {needs.format(it=pronoun)}")
    sentence = "; ".join(parts) + "."
    return sentence[0].upper() + sentence[1:]


def build_rule(
    *,
    action: str,
    payment: str = "",
    price: str = "",
    currency: str = "",
    user_types: Sequence[str] = (),
    territories: str = "",
) -> Rule | None:
    """A rule from what a person typed (``action`` 'inherit' = no rule at this scope). Only a licence reads
    the other fields; a currency without a price is ignored (forms pre-fill it)."""
    if action in {"inherit", "clear", ""}:
        return None
    if action != "licence":
        return Rule(action)
    amount: int | None = None
    code: str | None = None
    if price.strip():
        if price.strip().startswith("-"):
            raise InvalidInput("a price cannot be negative")
        if not currency.strip():
            raise InvalidInput("a price needs a currency, e.g. USD")
        amount, code = parse_price(price, currency)
    places = tuple(t.upper() for t in territories.replace(",", " ").split())
    return Rule(
        "licence",
        payment=payment or None,
        amount_micros=amount,
        currency=code,
        user_types=tuple(user_types),
        territories=places,
    )


@dataclass(frozen=True)
class PolicySubject:
    """The scope a policy form edits, and what its policy applies to."""

    scope: Scope
    creator: CreatorProfile | None = None  # the creator scope's, or the collection's owner
    collection: Collection | None = None

    @property
    def site_wide(self) -> bool:
        return self.scope.kind == "site"


def subject_policy(
    session: Session, subject: PolicySubject, *, overrides: Mapping[Scope, Mapping[str, Rule]] | None = None
) -> EffectivePolicy:
    return effective_policy(
        session, creator=subject.creator, collection=subject.collection, overrides=overrides
    )


def inherited_policy(session: Session, subject: PolicySubject) -> EffectivePolicy:
    """What would apply if the subject's own scope said nothing."""
    return subject_policy(session, subject, overrides={subject.scope: {}})


def save_scope_rules(
    session: Session, *, scope: Scope, wanted: Mapping[str, Rule | None], changed_by: str | None
) -> list[PolicyChange]:
    """Make the scope say ``wanted`` (concrete usage -> rule, ``None`` = inherit); each change is recorded.

    A shorthand rule (``all``, ``ai-all``) at the scope that covers a changed usage is replaced by the
    concrete rules it stood for, so the result is exactly what was asked for.
    """
    unknown = set(wanted) - set(CONCRETE_USAGES)
    if unknown:
        raise InvalidInput(f"unknown usage {sorted(unknown)[0]!r}; usages are {', '.join(CONCRETE_USAGES)}")
    current = concrete_rules_at(session, scope)
    target = {usage: wanted.get(usage, current[usage]) for usage in CONCRETE_USAGES}
    changed = {usage for usage in CONCRETE_USAGES if target[usage] != current[usage]}
    if not changed:
        return []
    changes: list[PolicyChange | None] = []
    shorthands = [name for name in rules_at(session, scope) if name in SHORTHANDS]
    if any(changed & set(expand(name)) for name in shorthands):
        for name in shorthands:
            changes.append(set_rule(session, scope=scope, usage=name, rule=None, changed_by=changed_by))
        changed = set(CONCRETE_USAGES)
    for usage in CONCRETE_USAGES:
        if usage in changed:
            changes.append(
                set_rule(session, scope=scope, usage=usage, rule=target[usage], changed_by=changed_by)
            )
    return [change for change in changes if change is not None]


# --- preview: every signal for unsaved choices ----------------------------------------------------------


@dataclass(frozen=True)
class SignalPreview:
    """Every signal the subject's policy would produce, as the text a crawler or a file would carry."""

    summary: str
    policy: EffectivePolicy
    robots_txt: str
    ai_txt: str
    tdmrep_json: str
    tdm_policy: str
    license_xml: str
    headers: dict[str, str]
    html_tags: list[str]
    iptc_data_mining: str
    iptc_other_constraints: str | None
    training_mining: str
    # Collections reach crawlers only through each work's headers and files: the site files describe the
    # creator's whole address space, which a collection's setting does not change.
    files_follow_creator: bool = False
    notes: list[str] = field(default_factory=list)


def _robots_section(robots: str, handle: str) -> str:
    """The groups of a robots.txt that mention ``/@handle``, plus its Content-Signal and License lines."""
    out: list[str] = []
    group: list[str] = []
    mine = (f"/@{handle}/", f"/@{handle}$")

    def flush() -> None:
        if any(line.split(":", 1)[-1].strip() in mine for line in group):
            agents = [line for line in group if line.startswith("User-agent:")]
            rules = [line for line in group if not line.startswith("User-agent:")]
            shown = agents if len(agents) <= 6 else [*agents[:5], f"# … and {len(agents) - 5} more agents"]
            out.extend([*shown, *rules, ""])
        group.clear()

    for line in robots.splitlines():
        if not line.strip():
            flush()
        elif line.startswith("Content-Signal:"):
            flush()
            out += ["# The site's Content-Signal; yours is sent with each of your pages (headers).", line]
        elif line.startswith("License:"):
            flush()
            out.append(line)
        elif not line.startswith("#"):
            group.append(line)
    flush()
    if not any(f"/@{handle}" in line for line in out):
        out.insert(0, f"# No lines of your own: the site's rules apply to /@{handle}/.")
    return "\n".join(out).strip() + "\n"


def preview_signals(
    session: Session,
    *,
    subject: PolicySubject,
    wanted: Mapping[str, Rule | None],
    base_url: str,
    crawlers: Iterable[CrawlerLike],
    site_name: str = SITE_NAME,
) -> SignalPreview:
    """Every signal as it would be if the subject's scope said ``wanted``; computed in memory, nothing is
    written."""
    crawlers = list(crawlers)
    current = concrete_rules_at(session, subject.scope)
    own = {usage: wanted.get(usage, current[usage]) for usage in CONCRETE_USAGES}
    overrides = {subject.scope: {usage: rule for usage, rule in own.items() if rule is not None}}
    if subject.site_wide:
        site = site_signals(session, base_url=base_url, site_name=site_name, overrides=overrides)
        policy = site.policy
        data_mining, constraints = iptc_data_mining(policy)
        return SignalPreview(
            summary=describe_policy(policy, it="the work on this site"),
            policy=policy,
            robots_txt=robots_txt(site, crawlers),
            ai_txt=ai_txt(site),
            tdmrep_json=tdmrep_json(site),
            tdm_policy=json.dumps(tdm_policy_document(site), indent=2) + "\n",
            license_xml=license_xml(site),
            headers=response_headers(site),
            html_tags=[_tag(t) for t in html_tags(site)],
            iptc_data_mining=data_mining,
            iptc_other_constraints=constraints,
            training_mining=json.dumps(
                training_mining_entries(policy, license_url=site.license_url), indent=2
            ),
            notes=[
                f"{len(site.creators)} creators: each without settings of their own follows these choices."
            ],
        )
    creator = subject.creator
    assert creator is not None, "a creator or collection subject names its creator"
    files_follow_creator = subject.collection is not None
    # The site files describe all of the creator's work; a collection changes only its own works' signals.
    creator_policy = effective_policy(
        session, creator=creator, overrides=None if files_follow_creator else overrides
    )
    policy = subject_policy(session, subject, overrides=overrides)
    mine = CreatorSignals(creator.handle, creator.display_name, creator_policy)
    site = SiteSignals(
        base_url=base_url, site_name=site_name, policy=effective_policy(session), creators=[mine]
    )
    work = CreatorSignals(creator.handle, creator.display_name, policy)
    license_url = f"{base_url}/@{creator.handle}/license.xml"
    data_mining, constraints = iptc_data_mining(policy)
    tdm = [e for e in json.loads(tdmrep_json(site)) if e["location"] == f"/@{creator.handle}/*"]
    return SignalPreview(
        summary=describe_policy(policy, it="these works" if files_follow_creator else "your work"),
        policy=policy,
        robots_txt=_robots_section(robots_txt(site, crawlers), creator.handle),
        ai_txt=ai_txt(site),
        tdmrep_json=(
            json.dumps(tdm, indent=2) + "\n"
            if tdm
            else '# No entry of your own: the site\'s "/*" entry applies to your work.\n'
            + json.dumps(json.loads(tdmrep_json(site))[-1:], indent=2)
            + "\n"
        ),
        tdm_policy=json.dumps(tdm_policy_document(site, mine), indent=2) + "\n",
        license_xml=license_xml(site, only=creator.handle),
        headers=response_headers(site, work),
        html_tags=[_tag(t) for t in html_tags(site, work)],
        iptc_data_mining=data_mining,
        iptc_other_constraints=constraints,
        training_mining=json.dumps(training_mining_entries(policy, license_url=license_url), indent=2),
        files_follow_creator=files_follow_creator,
    )


# --- the served signal files, cached ------------------------------------------------------------------


def _version_parts() -> tuple[ScalarSelect[Any], ...]:
    m = CollectiveMembership
    return (
        select(func.max(PolicyChange.id)).scalar_subquery(),
        select(func.count()).select_from(PolicyChange).scalar_subquery(),
        select(func.count()).select_from(CreatorProfile).scalar_subquery(),
        select(func.max(CreatorProfile.created_at)).scalar_subquery(),
        select(func.count()).select_from(m).scalar_subquery(),
        select(func.count()).select_from(m).where(m.left_at.is_(None)).scalar_subquery(),
        select(func.max(m.joined_at)).scalar_subquery(),
        select(func.max(m.left_at)).scalar_subquery(),
    )


def signals_version(session: Session) -> tuple[object, ...]:
    """A cheap fingerprint of every database input to the site's signals, in one query.

    Policy rules only change through ``set_rule``, which appends a change row (max id and count, so a
    transaction that commits out of id order still shows); creators and collective memberships (joined,
    left, removed with their collective) change the per-creator sections.
    """
    return tuple(session.execute(select(*_version_parts())).one())


@dataclass
class _Entry:
    version: Hashable
    built_at: float
    value: object


class SignalCache:
    """The site's signals and their rendered files, reused while ``signals_version`` stays the same.

    Every request still reads the version (one small query), so a change made by another worker or host
    shows on the next request. A creator's new display name leaves no trace in the version (creators
    carry no update time), so entries are also rebuilt after ``max_age`` seconds. Thread-safe: routes run
    in a thread pool; two threads that miss at once both build, and the later result is kept.
    """

    def __init__(self, *, max_age: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, ...], _Entry] = {}

    def _get(self, key: tuple[str, ...], version: Hashable) -> object | None:
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or entry.version != version or self._clock() - entry.built_at > self._max_age:
            return None
        return entry.value

    def _put(self, key: tuple[str, ...], version: Hashable, value: object, built_at: float) -> None:
        with self._lock:
            self._entries[key] = _Entry(version, built_at, value)

    def site(self, session: Session, *, base_url: str, version: Hashable | None = None) -> SiteSignals:
        """The site's signals for ``base_url``, built again only when the policy version moved."""
        version = signals_version(session) if version is None else version
        key = ("site", base_url)
        cached = self._get(key, version)
        if isinstance(cached, SiteSignals):
            return cached
        started = self._clock()
        site = site_signals(session, base_url=base_url)
        self._put(key, version, site, started)
        return site

    def body(
        self,
        session: Session,
        *,
        base_url: str,
        name: str,
        render: Callable[[SiteSignals], str],
        extra: Hashable = None,
        extra_version: Sequence[ScalarSelect[Any]] = (),
    ) -> str:
        """A rendered file (``name`` tells which), rebuilt when the version or ``extra`` (e.g. the crawler
        registry in use) changed.

        ``extra_version``: scalar subqueries over further inputs of this file (a layer above the policy,
        such as licensing's offers); they join the one version query, so a hit still costs one query.
        """
        row = tuple(session.execute(select(*_version_parts(), *extra_version)).one())
        policy_version = row[: len(row) - len(extra_version)]
        version = (row, extra)
        key = ("body", base_url, name)
        cached = self._get(key, version)
        if isinstance(cached, str):
            return cached
        started = self._clock()
        body = render(self.site(session, base_url=base_url, version=policy_version))
        self._put(key, version, body, started)
        return body

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
