"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json.
tests/web/test_api.py checks every API route is described and every described
path is a route, so the two cannot drift apart."""

from __future__ import annotations

from typing import Any

from archiver import __version__

HEX64 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "Bad request (a query error names the column)", 401: "Not signed in",
            403: "The role may not do this", 404: "Not found", 503: "Storage unavailable"}
    return {str(c): _json(_ref("Error"), text[c]) for c in codes}


def _query(name: str, schema: dict[str, Any], description: str,
           required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema,
            "description": description}


def _path(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


SEARCH_PARAMETERS = [
    _query("q", {"type": "string"}, "The query language of docs/search.md ('*' for all)",
           required=True),
    _query("all_versions", {"type": "boolean", "default": False},
           "Every version, not only the latest (CLI --all-versions)"),
    _query("exclude_deleted", {"type": "boolean", "default": False},
           "Leave out deleted items (CLI --exclude-deleted)"),
    _query("sort", {"enum": ["relevance", "date", "date-asc"], "default": "relevance"}, "Order"),
    _query("page", {"type": "integer", "minimum": 1, "default": 1}, "Page number"),
    _query("page_size", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 20},
           "Hits per page"),
    _query("facets", {"type": "boolean", "default": False},
           "Counts by platform, account, kind, month, edited, deleted"),
    _query("platform", {"type": "string"}, "Filter: ANDs platform:\"...\" to q"),
    _query("account", {"type": "string"}, "Filter: ANDs account:\"...\" to q"),
    _query("kind", {"type": "string"}, "Filter: ANDs kind:\"...\" to q"),
    _query("created_from", {"type": "string"}, "Filter: created on or after (YYYY[-MM[-DD]])"),
    _query("created_to", {"type": "string"}, "Filter: created on or before (YYYY[-MM[-DD]])"),
]


def openapi_document(server_url: str) -> dict[str, Any]:
    record_id = _path("record_id", HEX64)
    hold_id = _path("hold_id", {"type": "integer"})
    job_id = _path("job_id", {"type": "string", "pattern": "^[0-9a-f]{32}$"})
    paths: dict[str, Any] = {
        "/openapi.json": {"get": {
            "operationId": "openapi", "summary": "This description",
            "responses": {"200": _json({"type": "object"}), **_errors(401)}}},
        "/me": {"get": {
            "operationId": "me", "summary": "Who the token or session acts as",
            "responses": {"200": _json(_ref("Me")), **_errors(401)}}},
        "/status": {"get": {
            "operationId": "status", "tags": ["status"],
            "summary": "Counts, index lag, last checkpoint, capture status per account "
                       "(`archiver status --json` plus recent runs)",
            "responses": {"200": _json({"type": "object"}), **_errors(401, 503)}}},
        "/search": {"get": {
            "operationId": "search", "tags": ["search"],
            "summary": "Search (the same service and shape as `archiver search --json`; "
                       "audited)",
            "parameters": SEARCH_PARAMETERS,
            "responses": {"200": _json(_ref("SearchPage")), **_errors(400, 401, 403, 503)}}},
        "/records/{record_id}": {"get": {
            "operationId": "record", "tags": ["records"],
            "summary": "A record: content, versions with diffs, thread, media, hashes, "
                       "retention and its verified inclusion proof (audited as a view)",
            "parameters": [record_id],
            "responses": {"200": _json(_ref("Record")), **_errors(401, 403, 404)}}},
        "/records/{record_id}/raw": {"get": {
            "operationId": "recordRaw", "tags": ["records"],
            "summary": "The record's canonical bytes (their SHA-256 is the id)",
            "parameters": [record_id],
            "responses": {"200": _json({"type": "object"}, "The stored bytes"),
                          **_errors(401, 403, 404)}}},
        "/records/{record_id}/media/{sha256}": {"get": {
            "operationId": "recordMedia", "tags": ["records"],
            "summary": "A media blob the record shows, checked against its SHA-256",
            "parameters": [record_id, _path("sha256", HEX64)],
            "responses": {"200": {"description": "The blob, as an attachment",
                                  "content": {"application/octet-stream": {}}},
                          **_errors(401, 403, 404)}}},
        "/holds": {
            "get": {"operationId": "holds", "tags": ["holds"], "summary": "Every matter",
                    "responses": {"200": _json({"type": "object", "properties": {
                        "holds": {"type": "array", "items": _ref("Hold")}}}),
                        **_errors(401, 403)}},
            "post": {"operationId": "holdCreate", "tags": ["holds"],
                     "summary": "Place a legal hold (audited)",
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": _ref("HoldRequest")}}},
                     "responses": {"201": _json({"type": "object"}, "Created"),
                                   **_errors(400, 401, 403)}}},
        "/holds/{hold_id}": {"get": {
            "operationId": "hold", "tags": ["holds"], "summary": "One matter",
            "parameters": [hold_id],
            "responses": {"200": _json(_ref("Hold")), **_errors(401, 403, 404)}}},
        "/holds/{hold_id}/release": {"post": {
            "operationId": "holdRelease", "tags": ["holds"],
            "summary": "Release a matter (audited)", "parameters": [hold_id],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["reason"],
                "properties": {"reason": {"type": "string"}}}}}},
            "responses": {"200": _json({"type": "object"}), **_errors(400, 401, 403, 404)}}},
        "/exports": {
            "get": {"operationId": "exports", "tags": ["exports"],
                    "summary": "Evidence-pack exports, newest first",
                    "responses": {"200": _json({"type": "object", "properties": {
                        "exports": {"type": "array", "items": _ref("Export")}}}),
                        **_errors(401, 403)}},
            "post": {"operationId": "exportCreate", "tags": ["exports"],
                     "summary": "Start an evidence pack for a query or a matter; follow it "
                                "at /exports/{job_id}",
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": _ref("ExportRequest")}}},
                     "responses": {"202": _json(_ref("Export"), "Started"),
                                   **_errors(400, 401, 403)}}},
        "/exports/{job_id}": {"get": {
            "operationId": "export", "tags": ["exports"], "summary": "An export's progress",
            "parameters": [job_id],
            "responses": {"200": _json(_ref("Export")), **_errors(401, 403, 404)}}},
        "/exports/{job_id}/download": {"get": {
            "operationId": "exportDownload", "tags": ["exports"],
            "summary": "The finished pack (zip of a BagIt bag; audited)",
            "parameters": [job_id],
            "responses": {"200": {"description": "The pack",
                                  "content": {"application/zip": {}}},
                          **_errors(401, 403, 404)}}},
        "/audit": {"get": {
            "operationId": "audit", "tags": ["audit"],
            "summary": "The audit trail, newest first (auditors and admins)",
            "parameters": [
                _query("actor", {"type": "string"}, "Exact actor, e.g. web:alice"),
                _query("action", {"type": "string"}, "Exact action, e.g. search"),
                _query("from", {"type": "string", "format": "date"}, "From this day (UTC)"),
                _query("to", {"type": "string", "format": "date"}, "To this day (UTC)"),
                _query("text", {"type": "string"}, "Details contain"),
                _query("page", {"type": "integer", "minimum": 1}, "Page"),
                _query("page_size", {"type": "integer", "minimum": 1, "maximum": 1000},
                       "Events per page"),
            ],
            "responses": {"200": _json({"type": "object"}), **_errors(400, 401, 403)}}},
    }
    schemas = {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "properties": {"code": {"type": "string"},
                                             "message": {"type": "string"}}}}},
        "Me": {"type": "object", "properties": {
            "username": {"type": "string"}, "role": {"enum": ["admin", "officer", "auditor"]},
            "actor": {"type": "string"}}},
        "Hit": {"type": "object", "properties": {
            "record_id": HEX64, "score": {"type": "number"}, "platform": {"type": "string"},
            "account": {"type": "string"}, "native_id": {"type": "string"},
            "kind": {"type": "string"}, "version": {"type": "integer"},
            "author": {"type": "string"}, "url": {"type": "string"},
            "created": {"type": ["string", "null"], "format": "date-time"},
            "captured": {"type": "string", "format": "date-time"},
            "edited": {"type": "boolean"}, "deleted": {"type": "boolean"},
            "latest": {"type": "boolean"}, "holds": {"type": "array",
                                                     "items": {"type": "string"}},
            "snippet": {"type": "string",
                        "description": "HTML: text escaped, matches in <mark>"}}},
        "SearchPage": {"type": "object", "properties": {
            "query": {"type": "string"}, "latest_only": {"type": "boolean"},
            "include_deleted": {"type": "boolean"}, "sort": {"type": "string"},
            "page": {"type": "integer"}, "page_size": {"type": "integer"},
            "pages": {"type": "integer"}, "total": {"type": "integer",
                                                    "description": "exact"},
            "hits": {"type": "array", "items": _ref("Hit")},
            "facets": {"type": "object"}, "index_lag": {"type": "integer"}}},
        "Record": {"type": "object", "properties": {
            "record_id": HEX64, "platform": {"type": "string"}, "account": {"type": "string"},
            "native_id": {"type": "string"}, "kind": {"type": "string"},
            "version": {"type": "integer"}, "observation": {"type": "string"},
            "content": {"type": "object"}, "post": {"type": "object"},
            "versions": {"type": "array", "items": {"type": "object"}},
            "media": {"type": "array", "items": {"type": "object"}},
            "thread": {"type": "array", "items": _ref("Hit")},
            "hashes": {"type": "object"},
            "proof": {"type": "object", "properties": {
                "status": {"enum": ["verified", "pending", "failed", "not-in-log"]},
                "leaf_index": {"type": ["integer", "null"]}, "tree_size": {"type": "integer"},
                "root_hash": HEX64, "leaf_hash": HEX64,
                "path": {"type": "array", "items": HEX64}}},
            "retention": {"type": "object"}}},
        "Hold": {"type": "object", "properties": {
            "id": {"type": "integer"}, "matter": {"type": "string"},
            "query": {"type": "string"}, "status": {"enum": ["active", "released"]},
            "records": {"type": "integer"}, "reason": {"type": "string"}}},
        "HoldRequest": {"type": "object", "required": ["matter", "query", "reason"],
                        "properties": {
                            "matter": {"type": "string"}, "query": {"type": "string"},
                            "accounts": {"type": "array", "items": {"type": "string"}},
                            "from": {"type": "string", "format": "date"},
                            "to": {"type": "string", "format": "date"},
                            "reason": {"type": "string"}}},
        "ExportRequest": {"type": "object", "properties": {
            "query": {"type": "string"}, "matter": {"type": "string"},
            "reason": {"type": "string"}},
            "description": "Exactly one of query or matter. A query's pack holds every "
                           "version and tombstone it matches, with each item's whole "
                           "version chain."},
        "Export": {"type": "object", "properties": {
            "id": {"type": "string"}, "status": {"enum": ["queued", "running", "done",
                                                          "failed"]},
            "query": {"type": ["string", "null"]}, "matter": {"type": ["string", "null"]},
            "done": {"type": "integer"}, "total": {"type": "integer"},
            "message": {"type": "string"}, "download": {"type": ["string", "null"]}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "social-archiver API", "version": __version__,
                 "description": "Search, records, legal holds, evidence-pack exports and "
                                "status of a social-archiver archive. Every call is checked "
                                "against the caller's role; searches, views, holds and "
                                "exports are in the audit trail as web:<username>."},
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "A token from `archiver tokens create` or the "
                                          "account page"},
                "session": {"type": "apiKey", "in": "cookie", "name": "__Host-archiver",
                            "description": "The browser session; writes need X-CSRFToken"},
            },
        },
    }
