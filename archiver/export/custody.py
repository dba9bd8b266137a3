"""Chain of custody, the FRE 902(14) certification template and the pack's README.

Per record (data/custody/records.jsonl, one JSON object a line): where it came
from (platform, account, URL, the API request), when it was acquired, by which
tool and version, and the hashes taken at acquisition (the record id is the
SHA-256 computed at ingest; content and media hashes as recorded then).
For the export (data/custody/export.json): who exported what, when, why and for
whom, the counts, the legal hold behind a matter, and every earlier
verification and export the audit trail holds.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from archiver.clock import format_time
from archiver.export.paths import PROOFS_PER_FILE, record_path, text_path
from storage.catalogue.models import audit_events

CUSTODY_SCHEMA = "social-archiver/custody/1"
AUDIT_ACTIONS = ("verify", "export", "checkpoint", "hold-create", "hold-extend", "hold-release")


def record_entry(row: sqlite3.Row, media: list[sqlite3.Row]) -> bytes:
    entry = {
        "doc_id": row["doc_id"],
        "record_id": row["record_id"],
        "included_because": row["reason"],
        "source": {
            "platform": row["platform"],
            "account": row["account"],
            "native_id": row["native_id"],
            "kind": row["kind"],
            "url": row["url"],
            "api_request_url": row["request_url"],
            "acquired_via": row["source"],
            "export_file_sha256": row["source_sha256"],
        },
        "acquired_at": row["captured"],
        "tool": {
            "connector": row["connector"],
            "connector_version": row["connector_version"],
        },
        "version": row["version"],
        "previous_record_id": row["prev_record_id"],
        "observation": row["observation"],
        "hashes_at_acquisition": {
            "record_sha256": row["record_id"],
            "content_sha256": row["content_sha256"],
            "media": [
                {
                    "sha256": m["sha256"],
                    "size": m["size"],
                    "content_type": m["content_type"],
                    "source_url": m["source_url"],
                    "thumbnail_sha256": m["thumbnail_sha256"],
                }
                for m in media
            ],
        },
        "merkle_leaf_index": row["leaf_index"],
        "files": {"native": record_path(row["record_id"]), "text": text_path(row["record_id"])},
    }
    return (json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8", "replace")


def audit_history(conn: Connection, matter: str | None) -> dict[str, list[dict[str, Any]]]:
    """Earlier verifications, exports and checkpoints, and the matter's hold events,
    from the audit trail (each with its sequence number and hash, so they can be
    found again in the trail)."""
    found: dict[str, list[dict[str, Any]]] = {
        "verifications": [],
        "earlier_exports": [],
        "hold_events": [],
    }
    rows = conn.execute(
        select(audit_events)
        .where(audit_events.c.action.in_(AUDIT_ACTIONS))
        .order_by(audit_events.c.seq)
        .execution_options(yield_per=2000)
    )
    for row in rows:
        params = _params(row.params)
        event = {
            "seq": row.seq,
            "at": format_time(row.at),
            "actor": row.actor,
            "event_hash": row.event_hash,
            **params,
        }
        if row.action == "verify":
            found["verifications"].append(event)
        elif row.action == "export":
            found["earlier_exports"].append(event)
        elif row.action.startswith("hold-") and matter and params.get("matter") == matter:
            found["hold_events"].append({"action": row.action, **event})
    return found


def _params(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {"params": text}
    return value if isinstance(value, dict) else {"params": value}


def export_document(summary: dict[str, Any]) -> bytes:
    return (
        json.dumps(
            {"schema": CUSTODY_SCHEMA, **summary}, ensure_ascii=False, indent=2, sort_keys=True
        )
        + "\n"
    ).encode("utf-8", "replace")


def certification_text(
    *,
    organisation: str,
    bag_name: str,
    scope: str,
    records: int,
    media: int,
    exported_at: datetime,
    exported_by: str,
    tree_size: int,
    root_hash: str,
    key_id: str,
    tool: str,
) -> str:
    """A template in the spirit of FRE 902(14) (data copied from an electronic
    device, storage medium or file, authenticated by a process of digital
    identification: here SHA-256 hashes and a signed Merkle tree head), to be
    completed and signed by a qualified person. Not legal advice."""
    when = format_time(exported_at)
    return f"""CERTIFICATION OF AUTHENTICITY OF DATA COPIED FROM AN ELECTRONIC FILE
(template in the spirit of Federal Rule of Evidence 902(14); to be completed and
signed by a qualified person and reviewed by counsel before use; not legal advice)

I, ______________________________ (name), declare:

1. I am employed by {organisation} as ______________________________ (title).
   By reason of my position I am familiar with the social-media archiving system
   used by {organisation} ({tool}) and with how records are captured, stored and
   exported by it, and I am qualified to make this certification.

2. The evidence pack "{bag_name}" was exported from that system at {when}
   by {exported_by}, for {scope}. It holds {records} record(s) and {media} media
   file(s), each in data/ exactly as stored by the system.

3. Each record was identified at the time of its acquisition by its SHA-256 hash
   value, which is its record identifier and its file name in data/records/.
   The system recomputed these hash values when the pack was exported, and the
   pack lists the SHA-256 and SHA-512 hash values of every file in
   manifest-sha256.txt and manifest-sha512.txt (BagIt, RFC 8493).

4. Every record is proven to be part of the system's append-only log by a Merkle
   inclusion proof (RFC 9162), a line of a file in data/proofs/, against one
   signed tree head (data/tree-head/): tree size {tree_size}, root hash
   {root_hash},
   signed with the Ed25519 key whose identifier (SHA-256 of the public key) is
   {key_id}.

5. On ______________ (date) I verified the pack by ______________________________
   (e.g. "archiver verify-pack", or "sha256sum -c manifest-sha256.txt" and the
   proof script in the pack's documentation); every hash value and proof matched
   and the signing key identifier matched the key published by {organisation}.

6. The records are true duplicates of the data as acquired from the platforms
   named in each record; the system records each acquisition at or near the time
   it occurred, in the course of a regularly conducted activity of
   {organisation}, as a regular practice of that activity.

I declare under penalty of perjury under the laws of the United States of
America that the foregoing is true and correct.

Executed on ______________ (date) at ______________________________ (place).

Signature: ______________________________

Name: ______________________________     Title: ______________________________
"""


def readme_text(*, bag_name: str, organisation: str, scope: str, key_id: str) -> str:
    return f"""EVIDENCE PACK {bag_name}
From {organisation}; {scope}.

What is where (paths relative to this data/ folder):
  records/<record id>.json   each record exactly as stored; its SHA-256 is its name
  text/<record id>.txt       the record's text (UTF-8), for review tools
  media/<sha256>.<ext>       media and thumbnails; each file's SHA-256 is its name
  proofs/proofs-NNNNN.jsonl  Merkle inclusion proofs (RFC 9162), one line per
                             record, in log order (up to {PROOFS_PER_FILE:,} a file)
  tree-head/                 the signed tree head every proof leads to:
      checkpoint.json          as the archive stored it (tree head, signature, key)
      signed-tree-head.json    the exact bytes that were signed
      signature.bin            the raw 64-byte Ed25519 signature
      public-key.pem           the public key (key id {key_id})
  report/index.html          the report to read in a browser (pages; no scripts)
  report/report-NNNN.pdf     the same report for print
  loadfile.dat, loadfile.csv eDiscovery load file (Concordance DAT, UTF-8 with BOM)
  custody/export.json        who exported what, when and why; earlier verifications
  custody/records.jsonl      per record: source, acquisition, tool, hashes
  certification-fre-902-14.txt  a certification template to complete and sign

How to check it: see the archive's docs/evidence-packs.md. In short:
  cd <this bag> && sha256sum -c manifest-sha256.txt
  archiver verify-pack <this bag>     (needs no archive, no network)
Compare the key id above with the key {organisation} publishes.
"""
