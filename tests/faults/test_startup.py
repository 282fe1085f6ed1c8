"""Startup errors are one clear line, and the OTLP token stays off the command line (where
``ps`` shows it to every user): binding 0.0.0.0 without a token was a raw traceback."""

from __future__ import annotations

import subprocess

import pytest

from cctop.cli import _otlp_token, build_parser
from faults.common import cctop


def on_a_terminal(home, *args: str) -> subprocess.CompletedProcess:
    """``cctop ARGS`` with its stdout on a pseudo-terminal (the live view needs one), stderr
    captured apart."""
    import os
    import pty
    import sys

    from faults.common import env_for

    leader, follower = pty.openpty()
    try:
        return subprocess.run(
            [sys.executable, "-m", "cctop", "--claude-dir", str(home / ".claude"), *args],
            stdin=follower, stdout=follower, stderr=subprocess.PIPE,
            env=env_for(home, TERM="xterm-256color"), timeout=60, check=False,
        )  # fmt: skip
    finally:
        os.close(follower)
        os.close(leader)


def test_binding_beyond_loopback_without_a_token_is_one_line(tmp_path):
    result = on_a_terminal(tmp_path, "--otlp", "--otlp-bind", "0.0.0.0", "--no-store")
    assert result.returncode != 0
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cctop: refusing to accept OTLP on 0.0.0.0")
    assert "CCTOP_OTLP_TOKEN" in lines[0]


def test_token_from_a_file_or_the_environment(tmp_path, monkeypatch):
    parser = build_parser()
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-from-file\n")
    monkeypatch.setenv("CCTOP_OTLP_TOKEN", "s3cret-from-env")
    assert _otlp_token(parser.parse_args(["--otlp-token-file", str(token_file)])) == "s3cret-from-file"
    assert _otlp_token(parser.parse_args(["--otlp"])) == "s3cret-from-env"
    monkeypatch.delenv("CCTOP_OTLP_TOKEN")
    assert _otlp_token(parser.parse_args(["--otlp-token", "visible"])) == "visible"
    assert _otlp_token(parser.parse_args([])) is None


@pytest.mark.parametrize("content", [None, ""], ids=["missing", "empty"])
def test_a_bad_token_file_is_one_line(tmp_path, content):
    token_file = tmp_path / "token\x1b[2J"
    if content is not None:
        token_file.write_text(content)
    result = cctop(tmp_path, "--otlp", "--otlp-token-file", str(token_file), "--no-store")
    assert result.returncode != 0
    err = result.stderr.decode()
    assert len(err.strip().splitlines()) == 1 and "--otlp-token-file" in err and "\x1b" not in err


def test_the_env_token_is_required_by_the_listener(tmp_path):
    """With CCTOP_OTLP_TOKEN set, 0.0.0.0 is accepted (the listener then needs the token)."""
    from cctop.sources.otlp import OtlpConfig, OtlpListener

    args = build_parser().parse_args(["--otlp", "--otlp-bind", "0.0.0.0"])
    import os

    os.environ["CCTOP_OTLP_TOKEN"] = "t0ken"
    try:
        token = _otlp_token(args)
    finally:
        del os.environ["CCTOP_OTLP_TOKEN"]
    listener = OtlpListener(OtlpConfig("0.0.0.0", 0, -1, token), lambda records: None)
    try:
        assert listener.start() == []
        assert listener._ingest.authorized("Bearer t0ken") and not listener._ingest.authorized(None)
    finally:
        listener.stop()
