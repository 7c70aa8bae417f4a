"""Redaction: what is hidden before text reaches the event log or an artifact file."""

from __future__ import annotations

import pytest

from harness_tui.policy.redact import Redactor

ENV = {
    "DB_PASSWORD": "hunter2",  # short, but named as a secret
    "SERVICE_API_KEY": "k3y9",
    "FEATURE_TOKEN": "1",  # trivial values are not secrets worth hiding
    "DEBUG_SECRET": "true",
    "EMPTY_PASSWORD": "",
    "HOME": "/home/ann",  # not secret-named
}

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
GH = "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"  # 36 characters

TABLE = [
    # (what a tool printed, what is stored)
    ("stripe live key", "key=sk_live_51HqLyjWDarjtT1zdp7dcXYZabc", "key=[redacted]"),
    ("stripe test key", "sk_test_4eC39HqLyjWDarjtT1zdp7dc", "[redacted]"),
    ("stripe restricted key", "rk_live_51HqLyjWDarjtT1zdp7dcXYZ ok", "[redacted] ok"),
    ("jwt", f"Authorization: Bearer {JWT}", "Authorization: Bearer [redacted]"),
    (
        "slack webhook",
        "POST https://hooks.slack.com/services/T0ABCDEF1/B0ABCDEF2/abcdEFGHijklMNOPqrstUVWX done",
        "POST https://hooks.slack.com/services/[redacted] done",
    ),
    ("slack bot token", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "[redacted]"),
    ("slack user token", "token xoxp-1234567890-1234567890-abcdef", "token [redacted]"),
    ("slack app token", "xoxa-2-1234567890-abcdefABCDEF", "[redacted]"),
    ("slack session token", "xoxs-1234567890-abcdefABCDEF", "[redacted]"),
    (
        "npm token",
        "//registry.npmjs.org/:_authToken=npm_" + GH,
        "//registry.npmjs.org/:_authToken=[redacted]",
    ),
    ("github classic token", f"ghp_{GH}", "[redacted]"),
    ("github oauth token", f"gho_{GH}", "[redacted]"),
    ("github app token", f"ghs_{GH}", "[redacted]"),
    ("github fine-grained token", "github_pat_11ABCDEFG0" + GH + "_" + GH, "[redacted]"),
    (
        "aws access key id",
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
        "aws_access_key_id = [redacted]",
    ),
    ("url password", "postgres://app:s3cr3t-pw@db:5432/app", "postgres://app:***@db:5432/app"),
    ("url password, empty user", "redis://:s3cr3tpw@cache:6379/0", "redis://:***@cache:6379/0"),
    (
        "url password holding an @",
        "https://bob:p@ss@git.example/x",
        "https://bob:***@git.example/x",
    ),
    (
        "short secret env value",
        "connecting as app with hunter2 now",
        "connecting as app with [redacted] now",
    ),
    ("four-character secret env value", "key: k3y9.", "key: [redacted]."),
    (
        "secret-named assignment",
        "STRIPE_SECRET=abcd1234\nOTHER=x",
        "STRIPE_SECRET=[redacted]\nOTHER=x",
    ),
    (
        "quoted secret assignment",
        "export DEPLOY_TOKEN='zq9x7w'",
        "export DEPLOY_TOKEN='[redacted]'",
    ),
    (
        "private key",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNz\n-----END OPENSSH PRIVATE KEY-----",
        "[redacted]",
    ),
]

UNCHANGED = [
    "FEATURE_TOKEN=1 and DEBUG_SECRET=true are settings, not secrets",
    "the hunter22 account and hunter2x are other words",
    "sk_live alone, eyJ alone, npm_config_cache=/tmp/npm, AKIA123",
    "MAX_TOKENS=4096 PASSWORD_MIN_LENGTH=12",
    "git clone https://github.com/org/repo.git",
    "PASSWORD=$DB_PASSWORD_FROM_VAULT",
    "ssh://git@github.com:org/repo",
]


@pytest.mark.parametrize(("name", "text", "stored"), TABLE, ids=[row[0] for row in TABLE])
def test_redaction_table(name, text, stored):
    redactor = Redactor(ENV)
    assert redactor.text(text) == stored
    # Bytes (artifact files) are redacted alike.
    assert redactor.bytes(text.encode()) == stored.encode()


@pytest.mark.parametrize("text", UNCHANGED)
def test_ordinary_text_is_left_alone(text):
    redactor = Redactor(ENV)
    assert redactor.text(text) == text
    assert redactor.bytes(text.encode()) == text.encode()


def test_binary_content_stays_byte_exact_around_a_secret():
    redactor = Redactor({"MY_TOKEN": "tok-1234567890abcdef"})
    before = bytes(range(256)) * 8
    after = b"\xff\xfe\x00" + bytes(range(255, -1, -1)) * 8
    data = before + b"tok-1234567890abcdef" + after
    assert redactor.bytes(data) == before + b"[redacted]" + after
    assert redactor.bytes(before + after) == before + after


def test_streamed_output_is_redacted_whatever_the_chunk_boundaries():
    """A secret split across two reads of a pipe is still caught: output goes to an
    artifact file as it arrives, chunk by chunk."""
    redactor = Redactor({"MY_TOKEN": "tok-1234567890abcdef", "DB_PASSWORD": "hunter2"})
    text = (
        b"start\nkey tok-1234567890abcdef end\n"
        b"pw hunter2 " + JWT.encode() + b"\r"
        b"-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAK\n-----END RSA PRIVATE KEY-----\n"
        b"url https://u:pass1234@h.example/x and ghp_" + GH.encode() + b" tail"
    )
    whole = redactor.bytes(text)
    assert b"tok-1234567890abcdef" not in whole and b"hunter2" not in whole
    assert b"MIIEow" not in whole and JWT.encode() not in whole
    for cut in range(1, len(text)):
        stream = redactor.stream()
        out = stream.feed(text[:cut]) + stream.feed(text[cut:]) + stream.flush()
        assert out == whole, cut
    # Byte by byte, too.
    stream = redactor.stream()
    out = b"".join(stream.feed(text[i : i + 1]) for i in range(len(text))) + stream.flush()
    assert out == whole


def test_a_stream_hands_on_complete_lines_at_once():
    """Whoever reads the artifact while the command runs sees each line once written."""
    stream = Redactor({}).stream()
    assert stream.feed(b"one\ntwo\nthr") == b"one\ntwo\n"
    assert stream.feed(b"ee\n") == b"three\n"
    assert stream.flush() == b""


def test_a_long_line_without_newline_is_not_held_forever():
    stream = Redactor({}).stream()
    out = stream.feed(b"x" * 1_000_000)
    assert len(out) > 900_000
    assert out + stream.flush() == b"x" * 1_000_000
