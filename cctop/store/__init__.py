"""The SQLite store: the one owner of the file (files and their records, dedupe keys, kept
telemetry, the warm-start aggregates). No other package opens a connection to it."""
