"""Social media compliance archiver: the domain (records, log, ingest, verify, CLI)."""

__version__ = "0.1.0"
