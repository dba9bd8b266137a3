"""Constants shared by the LinkedIn connector tests."""

from __future__ import annotations

TOKEN = "AQX-linkedin-SECRET-77aa1b-token-do-not-store"
TOKEN_ENV = "ARCHIVER_TEST_LINKEDIN_TOKEN"
HANDLE = "urn:li:organization:2414183"
