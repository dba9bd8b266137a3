"""Constants shared by the Mastodon connector tests: the recorded account and its ids."""

from __future__ import annotations

TOKEN = "mstdn-SECRET-7f3a9c1e-token-do-not-store"
TOKEN_ENV = "ARCHIVER_TEST_MASTODON_TOKEN"
HANDLE = "mastodonpy_test@localhost:3000"
ORG_ID = "109440137734600341"
TOOT_IDS = [  # the recorded "Toot number 0!" .. "9!", oldest first
    "109440145478329198",
    "109440145480919580",
    "109440145483494523",
    "109440145486112118",
    "109440145488560756",
    "109440145491586627",
    "109440145497720063",
    "109440145505153295",
    "109440145508061923",
    "109440145510747169",
]
EDITED_ID = "109440147874866834"
ORG_DM_ID = "109440153075398503"  # conversation 6: the organisation writes to admin
ADMIN_DM_ID = "109440151313806016"  # conversation 3: admin writes to the organisation
