"""A sandbox platform for `archiver quickstart`: a fictional organisation served on
127.0.0.1 in Mastodon's API shapes, so a new user sees real capture, offline."""
