"""Importers for platform export files: history the APIs no longer serve."""
