"""The error hierarchy: every error says what went wrong and what to do next.

Library code raises these and never exits; the CLI maps them to exit codes.
"""

from __future__ import annotations


class ArchiverError(Exception):
    """Root of every error this product raises on purpose."""

    exit_code = 1


class ConfigError(ArchiverError):
    """The configuration is invalid; `problems` lists every problem at once."""

    exit_code = 2

    def __init__(self, problems: list[str] | str, source: str | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        where = f" in {source}" if source else ""
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid configuration{where}:\n{lines}")


class UsageError(ArchiverError):
    """The request itself is malformed (a bad query, an unknown name)."""

    exit_code = 2


class StorageError(ArchiverError):
    """The object store or catalogue refused or failed an operation."""

    exit_code = 3


class RetentionError(StorageError):
    """An operation would break a retention period or legal hold."""


class IntegrityError(ArchiverError):
    """Stored bytes do not match the hash they are addressed by."""

    exit_code = 4

    def __init__(self, key: str, algorithm: str, expected: str, found: str) -> None:
        self.key = key
        self.algorithm = algorithm
        self.expected = expected
        self.found = found
        super().__init__(f"{key}: {algorithm} mismatch, expected {expected}, found {found}")


class ProofError(ArchiverError):
    """A Merkle inclusion or consistency proof, or a signature, does not verify."""

    exit_code = 4


class ConnectorError(ArchiverError):
    """A connector failed; the subclass says what the framework should do next."""


class RetriableError(ConnectorError):
    """Try again later (network trouble, 5xx, rate limit)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class FatalError(ConnectorError):
    """Stop this account until a person acts (bad credentials, revoked access)."""


class SkippableError(ConnectorError):
    """Skip this one item, record why, carry on with the rest."""
