"""Capture: accounts, the per-account run (connector -> media -> ingest -> cursor), media."""
