"""Accounts the archive captures. Settings are validated against the connector's
schema when added; secrets are never stored, only the names of the environment
variables that hold them."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, or_, select

from archiver.clock import Clock
from archiver.errors import UsageError
from connectors.base import Account
from connectors.registry import load_connector
from storage.catalogue.db import write_transaction
from storage.catalogue.models import accounts


def validate_settings(platform: str, settings: dict[str, Any]) -> dict[str, Any]:
    model = load_connector(platform).settings_model
    try:
        return model(**settings).model_dump(mode="json")
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise UsageError(f"invalid settings for a {platform} account: {problems}") from None


class AccountService:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def add(self, platform: str, handle: str, settings: dict[str, Any]) -> Account:
        clean = validate_settings(platform, settings)
        with write_transaction(self.engine) as conn:
            existing = conn.execute(
                select(accounts.c.id).where(
                    accounts.c.platform == platform, accounts.c.handle == handle
                )
            ).scalar()
            if existing is not None:
                conn.execute(
                    accounts.update()
                    .where(accounts.c.id == existing)
                    .values(settings=clean, enabled=True)
                )
                account_id = existing
            else:
                account_id = conn.execute(
                    accounts.insert().values(
                        platform=platform,
                        handle=handle,
                        settings=clean,
                        enabled=True,
                        created_at=self.clock.now(),
                    )
                ).inserted_primary_key[0]
        return self.get(str(account_id))

    def list(self, include_disabled: bool = False) -> list[Account]:
        query = select(accounts).order_by(accounts.c.id)
        if not include_disabled:
            query = query.where(accounts.c.enabled.is_(True))
        with self.engine.connect() as conn:
            return [self._account(row) for row in conn.execute(query)]

    def get(self, ref: str) -> Account:
        """An account by id or handle."""
        condition = accounts.c.handle == ref
        if ref.isdigit():
            condition = or_(condition, accounts.c.id == int(ref))
        with self.engine.connect() as conn:
            row = conn.execute(select(accounts).where(condition)).first()
        if row is None:
            raise UsageError(f"no account {ref!r} (see `archiver accounts list`)")
        return self._account(row)

    def remove(self, ref: str) -> Account:
        """Stop capturing; the account's records and run history stay."""
        account = self.get(ref)
        with write_transaction(self.engine) as conn:
            conn.execute(accounts.update().where(accounts.c.id == account.id).values(enabled=False))
        return account

    @staticmethod
    def _account(row: Any) -> Account:
        model = load_connector(row.platform).settings_model
        return Account(row.id, row.platform, row.handle, model(**row.settings))
