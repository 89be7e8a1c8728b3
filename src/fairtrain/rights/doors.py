"""Enforcing the policy at the door of a site fairtrain does not serve: web-server snippets, and the
Terms-of-Service clause that says the same in words."""

from __future__ import annotations

import re
from collections.abc import Iterable

from fairtrain.rights.policy import format_micros
from fairtrain.rights.signals import ALWAYS_ALLOWED, PURPOSE_USAGE, CrawlerLike, SiteSignals

__all__ = ["apache_htaccess", "blocked_agents", "caddy_snippet", "nginx_snippet", "terms_clause"]

_TERMS_RE = r"^/(robots\.txt|ai\.txt|license\.xml|\.well-known/)"
_HEADER = "# fairtrain: refuse AI crawlers the policy does not allow; the terms files stay open."


def blocked_agents(site: SiteSignals, crawlers: Iterable[CrawlerLike]) -> list[str]:
    """Agents the site policy does not allow for their purpose (token-only names never send requests)."""
    names = {
        c.name
        for c in crawlers
        if not getattr(c, "token_only", False)
        and site.policy.action(PURPOSE_USAGE.get(c.purpose, "ai-train")) != "allow"
    }
    return sorted(names, key=str.lower)


def _alternation(agents: list[str]) -> str:
    # Longest first, so a name is never shadowed by one it contains.
    return "|".join(
        re.escape(a).replace("/", r"\/") for a in sorted(agents, key=lambda a: (-len(a), a.lower()))
    )


def nginx_snippet(site: SiteSignals, crawlers: Iterable[CrawlerLike]) -> str:
    agents = blocked_agents(site, crawlers)
    return f"""{_HEADER}
# Put the two maps in the http {{ }} block and the rest in your server {{ }} block.
map $http_user_agent $fairtrain_ai {{
    default 0;
    "~*({_alternation(agents)})" 1;
}}
map $uri $fairtrain_terms {{
    default 0;
    "~{_TERMS_RE}" 1;
}}

# server {{
    set $fairtrain_refuse "$fairtrain_ai$fairtrain_terms";
    if ($fairtrain_refuse = "10") {{
        add_header Link '<{site.license_url}>; rel="license"; type="application/rsl+xml"' always;
        return 403 "AI use of this site needs a licence: {site.license_url}\\n";
    }}
    add_header Link '<{site.license_url}>; rel="license"; type="application/rsl+xml"' always;
# }}
"""


def caddy_snippet(site: SiteSignals, crawlers: Iterable[CrawlerLike]) -> str:
    agents = blocked_agents(site, crawlers)
    exempt = " ".join(p + ("*" if p.endswith("/") else "") for p in ALWAYS_ALLOWED)
    return f"""{_HEADER}
# Paste inside your site block.
@fairtrain_ai {{
    header_regexp User-Agent "(?i)({_alternation(agents)})"
    not path {exempt}
}}
header Link "<{site.license_url}>; rel=\\"license\\"; type=\\"application/rsl+xml\\""
respond @fairtrain_ai "AI use of this site needs a licence: {site.license_url}" 403
"""


def apache_htaccess(site: SiteSignals, crawlers: Iterable[CrawlerLike]) -> str:
    agents = blocked_agents(site, crawlers)
    return f"""{_HEADER}
<IfModule mod_headers.c>
    Header always set Link "<{site.license_url}>; rel=\\"license\\"; type=\\"application/rsl+xml\\""
</IfModule>
<IfModule mod_rewrite.c>
    RewriteEngine On
    RewriteCond %{{REQUEST_URI}} !{_TERMS_RE}
    RewriteCond %{{HTTP_USER_AGENT}} ({_alternation(agents)}) [NC]
    RewriteRule .* - [F,L]
</IfModule>
"""


def terms_clause(site: SiteSignals, *, owner: str) -> str:
    """Plain-language Terms-of-Service clause, filled in with the policy's terms."""
    train = site.policy["ai-train"]
    lines = [
        "Artificial intelligence and data mining",
        "",
        f"The works on this site are owned by {owner}. Unless a written licence says otherwise, you may "
        "not use them, in whole or in part, to train, fine-tune, evaluate or ground any "
        "artificial-intelligence or machine-learning model, or to build a dataset for such uses, "
        "whether by crawling, scraping, downloading or any other means. This is an express reservation "
        "of rights for text and data mining, including under Article 4(3) of Directive (EU) 2019/790.",
    ]
    if train.action == "licence":
        price = ""
        if train.rule.amount_micros is not None and train.rule.currency:
            price = f" Listed terms start at {format_micros(train.rule.amount_micros)} {train.rule.currency}."
        lines += [
            "",
            "Licences for AI training are available: the machine-readable terms are at "
            f"{site.license_url}, and a licence token can be obtained from {site.base_url}/rsl.{price}",
        ]
    elif train.action == "allow":
        lines = [*lines[:2], f"{owner} permits the use of the works on this site for AI training."]
    search = "permitted" if site.policy.action("search") == "allow" else "not permitted"
    lines += ["", f"Indexing by search engines for the purpose of search results is {search}."]
    return "\n".join(lines) + "\n"
