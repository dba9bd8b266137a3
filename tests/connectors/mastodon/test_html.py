"""Status HTML to plain text: structure kept, markup and scripts gone, links sorted out."""

from __future__ import annotations

import pytest

from connectors.mastodon.html import html_to_text, parse_status_html


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>one</p><p>two</p>", "one\n\ntwo"),
        ("<p>one<br>two<br/>three</p>", "one\ntwo\nthree"),
        ("<p>a &amp; b &lt;i&gt;</p>", "a & b <i>"),
        ("<p>x<script>document.cookie</script>y</p><style>p{}</style>", "xy"),
        ("<p>  spaced \n out  </p>\n<p> next</p>", "spaced out\n\nnext"),
        ("<ul><li>one</li><li>two</li></ul>", "one\ntwo"),
        ("<pre>  keep\n  indent</pre>", "keep\n  indent"),
        ("plain text, no tags", "plain text, no tags"),
        ("", ""),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_links_are_split_into_hashtags_mentions_and_urls() -> None:
    html = (
        '<p><span class="h-card"><a href="https://a.test/@ann" class="u-url mention">'
        '@<span>ann</span></a></span> see <a href="https://a.test/tags/Rust" '
        'class="mention hashtag" rel="tag">#<span>Rust</span></a> and '
        '<a href="https://docs.rs/x" rel="nofollow noopener" target="_blank">'
        '<span class="invisible">https://</span><span class="">docs.rs/x</span></a> '
        '<a href="javascript:alert(1)">click</a></p>'
    )
    parsed = parse_status_html(html)
    assert parsed.text == "@ann see #Rust and https://docs.rs/x click"
    assert parsed.hashtags == ["Rust"]
    assert parsed.mentions == ["https://a.test/@ann"]
    assert parsed.urls == ["https://docs.rs/x"]


def test_unclosed_and_malformed_markup_does_not_raise() -> None:
    assert html_to_text("<p>open <b>bold <a href='x'>link") == "open bold link"
    assert html_to_text("<script>never closed <p>hidden</p>") == ""
    assert html_to_text("</p></p>text<br") == "text<br"  # an unfinished tag stays text
