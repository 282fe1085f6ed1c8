"""Claude Code's JSONL transcripts: find, parse, read whole, follow live."""
