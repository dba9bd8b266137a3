"""How the connector treats the platform: usage headers, Graph error codes, versions,
appsecret_proof, and the token kept out of everything it yields."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from archiver.errors import FatalError, RetriableError
from tests.connectors.support import archived_from, as_stored, collect
from tests.fakes import FakeClock
from tests.fakes.meta_graph import PAGE_ID, FakeGraph, error_reply

from .support import TOKEN

FEED = f"/v19.0/{PAGE_ID}/feed"


def test_low_usage_never_waits(graph: FakeGraph, run, fake_clock: FakeClock) -> None:
    graph.set_usage(50)
    run()
    assert fake_clock.sleeps == []


def test_high_usage_spreads_requests_over_the_rolling_window(
    graph: FakeGraph, run, fake_clock: FakeClock
) -> None:
    graph.set_usage(85)  # 15% left: each request waits 3600 s / 15
    result = run(capture_dms=False)

    assert result.ids("post")
    requests = len(graph.server.requests)
    assert fake_clock.sleeps == [pytest.approx(240.0)] * (requests - 1)


def test_usage_near_the_limit_hands_the_wait_to_the_scheduler(
    graph: FakeGraph, run, fake_clock: FakeClock
) -> None:
    graph.set_usage(96)  # 4% left: 900 s a request, longer than the client ever blocks
    with pytest.raises(RetriableError) as caught:
        run()
    assert caught.value.retry_after == pytest.approx(900.0)
    assert len(graph.server.requests) == 1
    assert fake_clock.sleeps == []


def test_a_blocked_business_use_case_pauses_until_access_returns(
    graph: FakeGraph, run, fake_clock: FakeClock
) -> None:
    graph.set_usage(100, regain_minutes=3)
    run(capture_comments=False, capture_dms=False)
    assert fake_clock.sleeps == [pytest.approx(180.0)] * (len(graph.server.requests) - 1)


@pytest.mark.parametrize(("code", "status"), [(4, 403), (17, 400), (32, 400), (80001, 400)])
def test_rate_limit_errors_are_retriable(graph: FakeGraph, run, code: int, status: int) -> None:
    graph.fail(
        FEED, error_reply(code, f"(#{code}) request limit reached", status, is_transient=True)
    )
    with pytest.raises(RetriableError, match=f"code {code}") as caught:
        run()
    assert caught.value.retry_after and caught.value.retry_after >= 60


def test_a_throttled_request_is_sent_again_once_access_returns(
    graph: FakeGraph, run, fake_clock: FakeClock
) -> None:
    graph.rate_limit(FEED, code=80001, regain_minutes=2)  # Graph says: back in 2 minutes
    result = run(capture_comments=False, capture_dms=False)

    assert len(result.ids("post")) == 6
    assert fake_clock.sleeps[0] == pytest.approx(120.0)
    assert len(graph.requests_to("/feed")) >= 2  # the refused page, then the same page again


def test_a_throttle_longer_than_the_client_waits_goes_to_the_scheduler(
    graph: FakeGraph, run, fake_clock: FakeClock
) -> None:
    graph.rate_limit(FEED, code=80001, regain_minutes=10)
    with pytest.raises(RetriableError, match="code 80001") as caught:
        run()
    assert caught.value.retry_after == pytest.approx(600.0)
    assert len(graph.server.requests) == 1 and fake_clock.sleeps == []


def test_a_throttle_that_does_not_lift_is_not_waited_out_for_ever(
    graph: FakeGraph, run, fake_clock: FakeClock
) -> None:
    graph.rate_limit(FEED, code=4, regain_minutes=1, times=10)
    with pytest.raises(RetriableError, match="code 4"):
        run()
    assert len(graph.server.requests) == 3  # the first answer and max_retries (2) more
    assert fake_clock.sleeps == [pytest.approx(60.0)] * 2


def test_a_transient_graph_error_is_retriable(graph: FakeGraph, run) -> None:
    graph.fail(FEED, error_reply(2, "An unexpected error has occurred.", is_transient=True))
    with pytest.raises(RetriableError, match="transient"):
        run()


def test_a_rejected_token_is_fatal_and_says_what_to_do(
    graph: FakeGraph, run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTHER_TOKEN", "EAAwrong")
    with pytest.raises(FatalError, match="generate a new Page/User token"):
        run(token_env="OTHER_TOKEN")


def test_a_missing_permission_is_fatal(graph: FakeGraph, run) -> None:
    graph.fail(FEED, error_reply(200, "(#200) Requires pages_read_user_content permission"))
    with pytest.raises(FatalError, match="lacks a permission"):
        run()


def test_a_missing_token_variable_is_fatal(graph: FakeGraph, run) -> None:
    with pytest.raises(FatalError, match="NOT_SET_ANYWHERE"):
        run(token_env="NOT_SET_ANYWHERE")


def test_the_api_version_is_a_setting(graph: FakeGraph, run) -> None:
    run(api_version="v20.0", capture_comments=False, capture_dms=False)
    assert {r.path.split("/")[1] for r in graph.server.requests} == {"v20.0"}


def test_a_versioned_base_url_wins_over_api_version(graph: FakeGraph, run) -> None:
    url = graph.server.url + "/v18.0"
    run(base_url=url, capture_comments=False, capture_dms=False)
    assert {r.path.split("/")[1] for r in graph.server.requests} == {"v18.0"}


def test_appsecret_proof_is_sent_and_redacted(
    graph: FakeGraph, run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("META_APP_SECRET", "app-secret-0123456789")
    result = run(app_secret_env="META_APP_SECRET", capture_comments=False, capture_dms=False)

    proof = hmac.new(b"app-secret-0123456789", TOKEN.encode(), hashlib.sha256).hexdigest()
    assert {r.param("appsecret_proof") for r in graph.server.requests} == {proof}
    for item in result.items:
        stored = as_stored(item)
        assert proof not in stored and "app-secret-0123456789" not in stored
        assert "appsecret_proof=[REDACTED]" in stored


def test_the_token_never_reaches_anything_yielded(
    graph: FakeGraph, make_connector, fake_clock: FakeClock
) -> None:
    """Graph writes the token into every paging.next, including those nested in a
    message's attachments: raw payloads keep the cursors, with the URLs redacted."""
    for message_id in list(graph.conversations["messenger"]["t_587956915396498"]):
        attachments = graph.objects[message_id]["attachments"]
        attachments["paging"]["next"] = attachments["paging"]["next"].replace(
            "access_token=access_token", f"access_token={TOKEN}"
        )
    fetched = collect(make_connector().fetch({}))
    graph.delete(graph.page_posts()[0]["id"])
    reconciled = list(make_connector().reconcile(archived_from(fetched.items, fake_clock.now())))

    assert any(r.deleted for r in reconciled)
    for item in fetched.items + reconciled:
        assert TOKEN not in as_stored(item)
    dm = next(i for i in fetched.items if i.kind == "dm")
    paging = dm.raw["attachments"]["paging"]
    assert "access_token=[REDACTED]" in paging["next"]
    assert paging["cursors"] == {"before": "MAZDZD", "after": "MAZDZD"}
    assert TOKEN in json.dumps(graph.objects[dm.native_id])  # what Graph served did carry it


def test_a_page_the_token_cannot_see_stops_the_account(graph: FakeGraph, run) -> None:
    graph.revoke_page_access()
    with pytest.raises(FatalError, match="cannot read the account's own object"):
        run()
