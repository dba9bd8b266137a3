"""A whole connector in one file: a JSON list API with `since` paging and 404 deletions.

GET /items?since=N -> {"items": [{"id", "text", "image"?}], "next": N or null}
GET /items/<id>    -> the item, or 404 once deleted
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from archiver.item import Attachment, CaptureContext, CapturedItem
from connectors.base import ArchivedItem, Connector, CursorUpdate
from connectors.exports.base import ExportImporter, parse_json
from connectors.http import NotFound


class DemoConnector(Connector):
    name = "demo"
    version = "0.1.0"

    def __init__(self, account, context) -> None:
        super().__init__(account, context)
        token = self.settings.secret() if self.settings.token_env else None
        auth = {"Authorization": f"Bearer {token}"} if token else None
        self.http = context.make_client(auth_headers=auth)

    def _item(self, payload: dict, result) -> CapturedItem:
        attachments = tuple(Attachment(payload["image"]) for _ in [0] if payload.get("image"))
        content = {
            "text": payload["text"],
            "media": [payload["image"]] if payload.get("image") else [],
        }
        capture = CaptureContext(self.name, self.version, result.url, result.headers)
        return CapturedItem(
            self.account.platform,
            self.account.handle,
            str(payload["id"]),
            "post",
            content,
            payload,
            capture,
            attachments=attachments,
        )

    def fetch(self, cursor: Mapping[str, str]) -> Iterator[CapturedItem | CursorUpdate]:
        since = cursor.get("items", "0")
        while since is not None:
            result = self.http.get_json("/items", params={"since": since})
            for payload in result.data["items"]:
                yield self._item(payload, result)
            following = result.data["next"]
            if following is not None:
                yield CursorUpdate("items", str(following))
            since = None if following is None else str(following)

    def reconcile(self, archived: Iterable[ArchivedItem]) -> Iterator[CapturedItem]:
        for item in archived:
            try:
                result = self.http.get_json(f"/items/{item.native_id}")
            except NotFound as gone:
                evidence = {
                    "status": gone.status,
                    "body": gone.body.decode("utf-8", "replace"),
                    "request_url": gone.url,
                }
                capture = CaptureContext(self.name, self.version, gone.url)
                yield CapturedItem(
                    self.account.platform,
                    self.account.handle,
                    item.native_id,
                    item.kind,
                    evidence,
                    None,
                    capture,
                    deleted=True,
                )
            else:
                yield self._item(result.data, result)


class DemoExportImporter(ExportImporter):
    """The demo platform's export: items.json (a list of {id, text, image?}) plus media/."""

    name = "demo"
    platform = "demo"
    version = "0.1.0"

    def items(self, archive, account, source) -> Iterator[CapturedItem]:
        for payload in parse_json(archive.read("items.json"), "items.json"):
            image = payload.get("image")
            content = {"text": payload["text"], "media": [image] if image else []}
            attachments = (Attachment(f"archive:{image}"),) if image else ()
            yield CapturedItem(account.platform, account.handle, str(payload["id"]), "post",
                               content, payload, source, attachments=attachments)
