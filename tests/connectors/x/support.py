"""Constants shared by the X connector tests."""

from __future__ import annotations

TOKEN = "x-SECRET-AAAAAAAAAAAAAAAAAAAAAMLheAAAAAAA0%2BuSeid-do-not-store"
TOKEN_ENV = "ARCHIVER_TEST_X_TOKEN"
HANDLE = "@darkliquid"
