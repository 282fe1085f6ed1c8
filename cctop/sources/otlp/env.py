"""``cctop otlp-env``: the environment to start ``claude`` with so it reports to cctop."""

from __future__ import annotations

import re

_PROTOCOLS = ("grpc", "http/protobuf", "http/json")
_SHELLS = {
    "bash": "posix",
    "zsh": "posix",
    "sh": "posix",
    "fish": "fish",
    "powershell": "pwsh",
    "pwsh": "pwsh",
}
# OTEL_EXPORTER_OTLP_HEADERS is a comma-separated key=value list: keep tokens simple.
_TOKEN_OK = re.compile(r"[A-Za-z0-9._~+/=:-]+")


def otlp_env(
    shell: str,
    http_port: int = 4318,
    grpc_port: int = 4317,
    protocol: str = "http/protobuf",
    token: str | None = None,
    host: str = "127.0.0.1",
) -> str:
    """Shell text setting Claude Code's telemetry variables.

    The protocol and endpoint are always set together (Claude Code has no default
    protocol, and an HTTP exporter pointed at the gRPC port fails), and the export
    intervals are short so the view is live.
    """
    style = _SHELLS.get(shell.lower())
    if style is None:
        raise ValueError(f"unknown shell {shell!r}: use bash, zsh, fish or powershell")
    if protocol not in _PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}: use one of {', '.join(_PROTOCOLS)}")
    if token is not None and not _TOKEN_OK.fullmatch(token):
        raise ValueError("the token may only hold letters, digits and . _ ~ + / = : -")
    port = grpc_port if protocol == "grpc" else http_port
    if not port:
        raise ValueError(f"the {'gRPC' if protocol == 'grpc' else 'HTTP'} listener is disabled (port 0)")
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"  # a wildcard bind is reached through loopback locally
    url_host = f"[{host}]" if ":" in host else host
    variables = [
        ("CLAUDE_CODE_ENABLE_TELEMETRY", "1"),
        ("OTEL_METRICS_EXPORTER", "otlp"),
        ("OTEL_LOGS_EXPORTER", "otlp"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://{url_host}:{port}"),
        ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "10000"),
        ("OTEL_LOGS_EXPORT_INTERVAL", "2000"),
    ]
    if token is not None:
        variables.append(("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer {token}"))
    lines = [f"# Claude Code telemetry -> cctop ({protocol} on {url_host}:{port})"]
    lines += [_assign(style, name, value) for name, value in variables]
    lines.append("# Optional (beta) traces add time-to-first-token:")
    lines += [
        "# " + _assign(style, name, value)
        for name, value in (("CLAUDE_CODE_ENHANCED_TELEMETRY_BETA", "1"), ("OTEL_TRACES_EXPORTER", "otlp"))
    ]
    return "\n".join(lines) + "\n"


def _assign(style: str, name: str, value: str) -> str:
    if style == "fish":
        return f"set -gx {name} {_single_quoted(value, backslash=True)}"
    if style == "pwsh":
        return f"$env:{name} = '{value.replace(chr(39), chr(39) * 2)}'"
    return f"export {name}={_single_quoted(value)}"


def _single_quoted(value: str, backslash: bool = False) -> str:
    if backslash:  # fish honours \\ and \' inside single quotes
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return "'" + value.replace("'", "'\"'\"'") + "'"
