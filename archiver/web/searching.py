"""Search parameters from a page or API request, turned into the one query string the
search service runs. Filters (platform, account, kind, dates) become clauses of the
query language, so the effective query shown on the page gives the same records
in `archiver search` (docs/search.md)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from archiver.errors import UsageError
from search.index import MAX_PAGE_SIZE, SORTS

DAY = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
MAX_QUERY = 4000
FILTERS = ("platform", "account", "kind")
TRUE = ("1", "true", "on", "yes")


def quote(value: str) -> str:
    """A value as a phrase of the query language: punctuation literal, quotes escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _flag(args: Mapping[str, Any], name: str, default: bool = False) -> bool:
    value = args.get(name)
    if value is None or value == "":
        return default
    return str(value).lower() in TRUE


@dataclass(frozen=True)
class SearchParams:
    q: str = ""
    platform: str = ""
    account: str = ""
    kind: str = ""
    created_from: str = ""
    created_to: str = ""
    all_versions: bool = False
    exclude_deleted: bool = False
    sort: str = "relevance"
    page: int = 1
    page_size: int = 20
    facets: bool = False

    @classmethod
    def from_args(cls, args: Mapping[str, Any], facets_default: bool = False) -> SearchParams:
        """Parse request arguments; UsageError naming the bad one."""
        q = str(args.get("q", "")).strip()
        if len(q) > MAX_QUERY:
            raise UsageError(f"a query may have at most {MAX_QUERY} characters")
        sort = str(args.get("sort") or "relevance")
        if sort not in SORTS:
            raise UsageError(f"sort must be one of {', '.join(SORTS)}")
        try:
            page = int(args.get("page") or 1)
            page_size = int(args.get("page_size") or 20)
        except ValueError:
            raise UsageError("page and page_size must be whole numbers") from None
        if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise UsageError(f"page must be 1 or more and page_size 1 to {MAX_PAGE_SIZE}")
        dates = {}
        for name in ("created_from", "created_to"):
            value = str(args.get(name) or "").strip()
            if value and not DAY.match(value):
                raise UsageError(f"{name}: a date like 2024, 2024-03 or 2024-03-31")
            dates[name] = value
        return cls(
            q=q,
            platform=str(args.get("platform") or "").strip()[:255],
            account=str(args.get("account") or "").strip()[:255],
            kind=str(args.get("kind") or "").strip()[:64],
            all_versions=_flag(args, "all_versions"),
            exclude_deleted=_flag(args, "exclude_deleted"),
            sort=sort,
            page=page,
            page_size=page_size,
            facets=_flag(args, "facets", facets_default),
            **dates,
        )

    @property
    def empty(self) -> bool:
        return not (self.q or self.has_filters)

    @property
    def has_filters(self) -> bool:
        return bool(self.platform or self.account or self.kind or self.created_from
                    or self.created_to)

    def query(self) -> str:
        """The query the service runs: the text ANDed with a clause per filter."""
        clauses = []
        for name in FILTERS:
            value = getattr(self, name)
            if value:
                clauses.append(f"{name}:{quote(value)}")
        if self.created_from or self.created_to:
            clauses.append(f"created:[{self.created_from or '*'} TO {self.created_to or '*'}]")
        if not clauses:
            return self.q
        text = self.q if self.q and self.q != "*" else ""
        return " AND ".join(([f"({text})"] if text else []) + clauses)

    def options(self) -> dict[str, Any]:
        """The search service's switches, as `archiver search` sets them."""
        return {
            "latest_only": not self.all_versions,
            "include_deleted": not self.exclude_deleted,
            "sort": self.sort,
            "page": self.page,
            "page_size": self.page_size,
            "facets": self.facets,
        }

    def url_args(self, **changes: Any) -> str:
        """The query string for a link to this search with some parameters changed."""
        params = replace(self, **changes)
        values: dict[str, Any] = {}
        for name in ("q", "platform", "account", "kind", "created_from", "created_to"):
            if getattr(params, name):
                values[name] = getattr(params, name)
        for name in ("all_versions", "exclude_deleted"):
            if getattr(params, name):
                values[name] = "1"
        if params.sort != "relevance":
            values["sort"] = params.sort
        if params.page != 1:
            values["page"] = params.page
        if params.page_size != 20:
            values["page_size"] = params.page_size
        return urlencode(values)
