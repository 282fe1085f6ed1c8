"""Embedded OTLP receiver: Claude Code's telemetry (logs, metrics, traces) as cctop records."""

from cctop.sources.otlp.env import otlp_env
from cctop.sources.otlp.listener import OtlpConfig, OtlpListener, OtlpStatus

__all__ = ["OtlpConfig", "OtlpListener", "OtlpStatus", "otlp_env"]
