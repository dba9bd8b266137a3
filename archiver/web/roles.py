"""Who may do what: roles grant permissions, every endpoint needs one permission.

The rule table is the single place access is decided. The app refuses any
endpoint without a rule (deny by default), and tests/web/test_access.py calls
every route in the app's url_map as every role and as nobody, so a new route
without a rule fails the tests before it ships.
"""

from __future__ import annotations

PUBLIC = "public"  # no sign-in needed (the login page, static files)
SIGNED_IN = "signed-in"  # any role: own account, status, the API description
SEARCH = "search"  # search and view records, their media and proofs
HOLDS = "holds"  # legal holds: list, create, release
EXPORTS = "exports"  # evidence packs: start, follow, download
AUDIT = "audit"  # read and export the audit trail
ADMIN = "admin"  # users, tokens of others, settings

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({SIGNED_IN, SEARCH, HOLDS, EXPORTS, AUDIT, ADMIN}),
    "officer": frozenset({SIGNED_IN, SEARCH, HOLDS, EXPORTS}),
    "auditor": frozenset({SIGNED_IN, SEARCH, AUDIT}),
}

# endpoint -> the permission it needs. Blueprint endpoints are "<blueprint>.<view>".
RULES: dict[str, str] = {
    "static": PUBLIC,
    "auth.login": PUBLIC,
    "auth.logout": SIGNED_IN,
    "pages.home": SIGNED_IN,
    "pages.status": SIGNED_IN,
    "pages.account": SIGNED_IN,
    "pages.token_create": SIGNED_IN,
    "pages.token_revoke": SIGNED_IN,
    "records.search": SEARCH,
    "records.show": SEARCH,
    "records.raw": SEARCH,
    "records.media": SEARCH,
    "holds.index": HOLDS,
    "holds.new": HOLDS,
    "holds.create": HOLDS,
    "holds.show": HOLDS,
    "holds.release": HOLDS,
    "exports.index": EXPORTS,
    "exports.new": EXPORTS,
    "exports.create": EXPORTS,
    "exports.show": EXPORTS,
    "exports.download": EXPORTS,
    "audit.index": AUDIT,
    "audit.csv": AUDIT,
    "admin.users": ADMIN,
    "admin.user_create": ADMIN,
    "admin.user_disable": ADMIN,
    "admin.user_enable": ADMIN,
    "admin.token_revoke": ADMIN,
    "admin.settings": ADMIN,
    "api.openapi": SIGNED_IN,
    "api.me": SIGNED_IN,
    "api.status": SIGNED_IN,
    "api.search": SEARCH,
    "api.record": SEARCH,
    "api.record_raw": SEARCH,
    "api.record_media": SEARCH,
    "api.holds": HOLDS,
    "api.hold_create": HOLDS,
    "api.hold": HOLDS,
    "api.hold_release": HOLDS,
    "api.exports": EXPORTS,
    "api.export_create": EXPORTS,
    "api.export": EXPORTS,
    "api.export_download": EXPORTS,
    "api.audit": AUDIT,
}


def allows(role: str | None, permission: str) -> bool:
    """Whether a role (None: not signed in) has a permission."""
    if permission == PUBLIC:
        return True
    return role is not None and permission in ROLE_PERMISSIONS.get(role, frozenset())


def can(role: str | None, endpoint: str) -> bool:
    """Whether a role may call an endpoint; an endpoint without a rule: nobody."""
    permission = RULES.get(endpoint)
    return permission is not None and allows(role, permission)
