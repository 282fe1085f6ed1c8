"""`cctop otlp-env` text: run through real shells where available, parsed otherwise."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from cctop.sources.otlp import otlp_env


def _posix_vars(text: str) -> dict[str, str]:
    """Evaluate the bash text in a real shell and read back the environment it sets."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash not installed")
    out = subprocess.run([bash, "-c", text + "\nenv -0"], capture_output=True, env={}, check=True).stdout
    return dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)


def _parsed(text: str, shell: str) -> dict[str, str]:
    """Read assignments back without the shell (fish/PowerShell may not be installed)."""
    found = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if shell == "fish":
            _, _, name, value = line.split(" ", 3)
            assert value[0] == value[-1] == "'"
            found[name] = value[1:-1].replace("\\'", "'").replace("\\\\", "\\")
        else:
            name, value = line.removeprefix("$env:").split(" = ", 1)
            assert value[0] == value[-1] == "'"
            found[name] = value[1:-1].replace("''", "'")
    return found


@pytest.mark.parametrize(
    ("protocol", "port"), [("http/protobuf", "4318"), ("http/json", "4318"), ("grpc", "4317")]
)
def test_bash_pairs_protocol_with_its_port(protocol: str, port: str) -> None:
    env = _posix_vars(otlp_env("bash", protocol=protocol))
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == protocol
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == f"http://127.0.0.1:{port}"
    assert env["CLAUDE_CODE_ENABLE_TELEMETRY"] == "1"
    assert env["OTEL_METRICS_EXPORTER"] == env["OTEL_LOGS_EXPORTER"] == "otlp"
    assert int(env["OTEL_METRIC_EXPORT_INTERVAL"]) <= 10_000
    assert int(env["OTEL_LOGS_EXPORT_INTERVAL"]) <= 5_000
    assert "OTEL_EXPORTER_OTLP_HEADERS" not in env


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish", "powershell"])
def test_every_shell_sets_the_same_variables_with_token(shell: str) -> None:
    text = otlp_env(shell, http_port=14318, grpc_port=14317, protocol="grpc", token="abc.DEF-123", host="::1")
    env = _posix_vars(text) if shell in ("bash", "zsh") else _parsed(text, shell)
    assert env["OTEL_EXPORTER_OTLP_HEADERS"] == "Authorization=Bearer abc.DEF-123"
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "grpc"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://[::1]:14317"
    assert env["CLAUDE_CODE_ENABLE_TELEMETRY"] == "1"
    assert {"OTEL_METRIC_EXPORT_INTERVAL", "OTEL_LOGS_EXPORT_INTERVAL"} <= env.keys()


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish not installed")
def test_fish_accepts_it() -> None:
    text = otlp_env("fish", token="tok")
    out = subprocess.run(
        ["fish", "-c", text + "\necho $OTEL_EXPORTER_OTLP_HEADERS"], capture_output=True, check=True
    )
    assert out.stdout.decode().strip() == "Authorization=Bearer tok"


def test_wildcard_bind_is_reached_on_loopback() -> None:
    assert "http://127.0.0.1:4318" in otlp_env("bash", host="0.0.0.0")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"shell": "tcsh"},
        {"shell": "bash", "protocol": "http"},
        {"shell": "bash", "token": "a,b"},
        {"shell": "bash", "token": "x'; rm -rf ~"},
        {"shell": "bash", "protocol": "grpc", "grpc_port": 0},
    ],
)
def test_bad_requests_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        otlp_env(**kwargs)
