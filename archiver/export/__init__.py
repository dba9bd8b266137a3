"""Evidence packs: a BagIt 1.0 bag (RFC 8493) of stored records, media, reports,
load files, inclusion proofs against one signed tree head, and a chain of custody.

`archiver.export.service.ExportService` writes a pack; `archiver.verify_pack`
checks one without the archive. docs/evidence-packs.md describes the layout.
"""
