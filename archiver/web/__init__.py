"""The compliance officer's web app and the JSON API (docs/web.md).

`archiver.web.app.create_app(archive)` builds the Flask app; `archiver serve` runs it.
"""
