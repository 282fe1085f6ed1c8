"""``cctop statusline``: parsing the real inputs Claude Code gave a statusLine command, the store
table it writes, the printed line, chaining, bad input, and a busy store."""

from __future__ import annotations

import json
import os
import shlex
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cctop.model.limit_sample import LimitSample, WindowSample
from cctop.report.statusline import line
from cctop.report.statusline_cmd import default_store_path
from cctop.report.statusline_install import is_installed
from cctop.sources.statusline import BadInput, parse
from cctop.store import samples as stored
from cctop.store.database import Store

SAMPLES = Path(__file__).parent / "samples" / "claude-code-2.1.332" / "statusline"


def lines_of(name: str) -> list[bytes]:
    return [line for line in (SAMPLES / name).read_bytes().splitlines() if line.strip()]


def last_of(name: str) -> bytes:
    return lines_of(name)[-1]


@pytest.mark.parametrize(
    "name",
    ["sl-332-oauth-ratelimit-headers.jsonl", "sl-332-gateway-jwt-ratelimit-headers.jsonl",
     "sl-197-oauth-ratelimit-headers.jsonl", "sl-332-oauth-nonessential-traffic-on.jsonl"],
)  # fmt: skip
def test_subscriber_and_gateway_inputs_carry_both_windows(name):
    sample, _ = parse(last_of(name), 1000.0)
    assert sample.five_hour is not None and sample.five_hour.used_percentage == 42.0
    assert sample.seven_day is not None and sample.seven_day.used_percentage == 13.0
    assert sample.five_hour.resets_at is not None and sample.seven_day.resets_at is not None
    assert sample.seven_day.resets_at - sample.five_hour.resets_at == pytest.approx(428400, abs=60)
    assert sample.observed_at == 1000.0 and sample.session_id


@pytest.mark.parametrize(
    "name",
    [
        "sl-332-apikey-noheaders.jsonl",
        "sl-332-apikey-ratelimit-headers.jsonl",
        "sl-332-apikey-title-run.jsonl",
    ],
)
def test_api_key_inputs_say_nothing_about_limits(name):
    for raw in lines_of(name):
        sample, _ = parse(raw, 0.0)
        assert sample.five_hour is None and sample.seven_day is None and sample.spend_limit is None


def test_first_call_before_any_response_has_no_limits_nor_cache():
    sample, _ = parse(lines_of("sl-332-oauth-ratelimit-headers.jsonl")[0], 0.0)
    assert sample.five_hour is None and sample.prompt_cache is None
    assert sample.context_used_percentage is None and sample.context_window_size == 1_000_000
    assert sample.cost_usd == 0.0


def test_prompt_cache_context_and_cost_of_a_real_input():
    sample, doc = parse(last_of("sl-332-apikey-noheaders.jsonl"), 0.0)
    cache = sample.prompt_cache
    assert cache is not None
    assert cache.hit_ratio == pytest.approx(0.467744558273515)
    assert (cache.requests, cache.misses, cache.last_miss_cause) == (3, 2, None)
    assert cache.expires_at == 1795694597 and cache.ttl == "5m" and cache.warm is True
    assert sample.cost_usd == pytest.approx(0.122592)
    assert sample.context_used_percentage == 1 and sample.context_window_size == 1_000_000
    assert sample.model == "Opus 5.5" and doc["version"] == "2.1.332"


@pytest.mark.parametrize("raw", [b"", b"   \n", b"not json", b"[1, 2]", b'"text"', b"\xff\xfe{"])
def test_bad_input_is_refused_with_a_reason(raw):
    with pytest.raises(BadInput):
        parse(raw, 0.0)


def test_wrong_types_are_left_out_not_guessed():
    raw = (
        b'{"session_id": 5, "rate_limits": {"five_hour": {"used_percentage": "42", "resets_at": 1},'
        b' "seven_day": {"used_percentage": true}}, "cost": {"total_cost_usd": NaN},'
        b' "prompt_cache": [], "model": {"display_name": ""}}'
    )
    sample, _ = parse(raw, 0.0)
    assert sample == LimitSample(observed_at=0.0, session_id=None)


def test_spend_limit_is_read_when_it_has_a_percentage():
    sample, _ = parse(
        b'{"session_id": "s", "spend_limit": {"used_percentage": 61.5, "resets_at": 2000}}', 0.0
    )
    assert sample.spend_limit == WindowSample(61.5, 2000.0)


# -- the printed line ------------------------------------------------------------------


def test_line_shows_cost_context_cache_and_both_windows(utc):
    sample, _ = parse(last_of("sl-332-oauth-ratelimit-headers.jsonl"), 0.0)
    now = sample.prompt_cache.expires_at - 125  # 2:05 left on the cache
    text = line(sample, now=now)
    assert text == "Sonnet 5.5 · $0.05 · ctx 1% · cache 35% 2:05 · 5h 42% ↻13:01 · wk 13% ↻Tue 12:01"


def test_line_fields_are_configurable_and_missing_ones_left_out(utc):
    sample, _ = parse(last_of("sl-332-apikey-noheaders.jsonl"), 0.0)
    assert line(sample, ["5h", "cost", "7d"], " | ", now=0.0) == "$0.12"
    assert line(LimitSample(0.0, None), now=0.0) == "cctop"


def test_line_says_when_a_window_has_reset_and_the_cache_is_cold():
    sample, _ = parse(last_of("sl-332-oauth-ratelimit-headers.jsonl"), 0.0)
    text = line(sample, ["cache", "5h"], now=sample.five_hour.resets_at + 1)
    assert text == "cache 35% cold · 5h reset"


def test_line_narrows_to_the_width_keeping_cost_and_limits(utc):
    sample, _ = parse(last_of("sl-332-oauth-ratelimit-headers.jsonl"), 0.0)
    now = sample.prompt_cache.expires_at - 125
    full = "Sonnet 5.5 · $0.05 · ctx 1% · cache 35% 2:05 · 5h 42% ↻13:01 · wk 13% ↻Tue 12:01"
    assert line(sample, now=now, width=len(full)) == full  # it fits: nothing changes
    # One column short: the weekly reset loses its time of day first.
    assert line(sample, now=now, width=len(full) - 1) == full.removesuffix(" 12:01")
    no_model = "$0.05 · ctx 1% · cache 35% 2:05 · 5h 42% ↻13:01 · wk 13% ↻Tue"
    assert line(sample, now=now, width=len(no_model)) == no_model
    assert line(sample, now=now, width=len(no_model) - 1) == no_model.replace("ctx 1% · ", "")
    # Once the cache must go too, the context fits again.
    with_context = "$0.05 · ctx 1% · 5h 42% ↻13:01 · wk 13% ↻Tue"
    assert line(sample, now=now, width=len(with_context)) == with_context
    for width in (0, 10, 36):  # narrower than cost and limits: those stay, Claude Code cuts
        assert line(sample, now=now, width=width) == "$0.05 · 5h 42% ↻13:01 · wk 13% ↻Tue"


def test_limits_past_their_thresholds_are_coloured_and_take_no_room(utc):
    sample, _ = parse(last_of("sl-332-oauth-ratelimit-headers.jsonl"), 0.0)
    now = sample.prompt_cache.expires_at - 125
    busy = sample._replace(five_hour=sample.five_hour._replace(used_percentage=85.0),
                           seven_day=sample.seven_day._replace(used_percentage=96.0))  # fmt: skip
    plain = line(busy, now=now)
    coloured = line(busy, now=now, color=True)
    assert "\x1b" not in plain and "\x1b" not in line(sample, now=now, color=True)  # 42%, 13%: no colour
    assert "\x1b[33m5h 85% ↻13:01\x1b[0m" in coloured and "\x1b[31mwk 96% ↻Tue 12:01\x1b[0m" in coloured
    assert coloured.replace("\x1b[33m", "").replace("\x1b[31m", "").replace("\x1b[0m", "") == plain
    narrow = line(busy, now=now, width=44, color=True)
    assert narrow.count("\x1b[0m") == 2 and len(line(busy, now=now, width=44)) <= 44
    ended = line(busy, now=busy.five_hour.resets_at + 1, color=True)
    assert "5h reset" in ended and "\x1b[33m" not in ended  # an ended window: no warning


def test_line_never_passes_control_codes_through():
    sample = LimitSample(0.0, "s", model="Opus\x1b[31m")
    assert "\x1b" not in line(sample, ["model"], now=0.0)


# -- the store table ----------------------------------------------------------------------


def test_record_creates_the_store_and_skips_repeats(tmp_path):
    path = tmp_path / "store.sqlite3"
    raws = lines_of("sl-332-oauth-ratelimit-headers.jsonl")
    first, _ = parse(raws[0], 10.0)
    second, _ = parse(raws[1], 20.0)
    again, _ = parse(raws[1], 30.0)  # a redraw: the same figures
    assert stored.record(path, first) == stored.ADDED
    assert stored.record(path, second) == stored.ADDED
    assert stored.record(path, again) == stored.REPEATED
    samples, dropped = stored.load(path)
    assert samples == [first, second] and dropped == 0
    Store.open(path, pytest.fail).close()  # the store module accepts what was written


def test_record_migrates_an_older_store(tmp_path):
    path = tmp_path / "store.sqlite3"
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = WAL")
    from cctop.store import database as store_module

    older = store_module.SCHEMA_VERSION - 1  # the store just before the samples table
    for version in range(1, older + 1):
        for statement in store_module._MIGRATIONS[version].split(";"):
            if statement.strip():
                db.execute(statement)
    db.execute(f"PRAGMA user_version = {older}")
    db.commit()
    db.close()
    sample, _ = parse(last_of("sl-332-oauth-ratelimit-headers.jsonl"), 5.0)
    assert stored.record(path, sample) == stored.ADDED
    assert stored.load(path)[0] == [sample]


def test_a_busy_store_spools_the_sample_and_the_next_writer_moves_it_in(tmp_path):
    path = tmp_path / "store.sqlite3"
    Store.open(path, pytest.fail).close()
    raw = last_of("sl-332-oauth-ratelimit-headers.jsonl")
    first, _ = parse(raw, 5.0)
    second, _ = parse(raw.replace(b'"used_percentage":42', b'"used_percentage":43'), 6.0)
    third, _ = parse(raw.replace(b'"used_percentage":42', b'"used_percentage":44'), 7.0)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        assert stored.record(path, first) == stored.SPOOLED
        assert stored.record(path, second) == stored.SPOOLED
        assert len(os.listdir(stored.spool_path(path))) == 2
        assert stored.load(path) == ([], 0)  # the reader cannot move them in yet: nothing lost
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert stored.record(path, third) == stored.ADDED  # gets through, and moves the spool in
    assert os.listdir(stored.spool_path(path)) == []
    samples, dropped = stored.load(path)
    assert sorted(samples) == [first, second, third] and dropped == 0


def test_a_reader_moves_the_spool_in_too(tmp_path):
    path = tmp_path / "store.sqlite3"
    Store.open(path, pytest.fail).close()
    sample, _ = parse(last_of("sl-332-oauth-ratelimit-headers.jsonl"), 5.0)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    assert stored.record(path, sample) == stored.SPOOLED
    holder.execute("ROLLBACK")
    holder.close()
    reader = stored.SampleReader(path)
    try:
        assert reader.new() == [sample]
        assert reader.new() == []
    finally:
        reader.close()
    assert os.listdir(stored.spool_path(path)) == []


def test_an_unusable_store_drops_the_sample_and_counts_it(tmp_path):
    path = tmp_path / "store.sqlite3"
    Store.open(path, pytest.fail).close()
    sample, _ = parse(last_of("sl-332-oauth-ratelimit-headers.jsonl"), 5.0)
    with sqlite3.connect(path) as db:  # a newer cctop's table, say: the insert cannot work
        db.execute("DROP TABLE statusline_samples")
        db.execute("CREATE TABLE statusline_samples (id INTEGER PRIMARY KEY, other TEXT)")
    with pytest.raises(stored.Dropped):
        stored.record(path, sample)
    assert os.path.getsize(stored.dropped_path(path)) == 1
    reader = stored.SampleReader(path)
    try:
        assert reader.dropped() == 1
    finally:
        reader.close()


def test_reader_returns_only_new_samples(tmp_path):
    path = tmp_path / "store.sqlite3"
    first, _ = parse(last_of("sl-332-oauth-ratelimit-headers.jsonl"), 5.0)
    stored.record(path, first)
    reader = stored.SampleReader(path)
    try:
        assert reader.new() == [first]
        assert reader.new() == []
        second, _ = parse(last_of("sl-332-gateway-jwt-ratelimit-headers.jsonl"), 6.0)
        stored.record(path, second)
        assert reader.new() == [second]
    finally:
        reader.close()


def test_default_path_is_the_stores():
    from cctop.store.database import default_path

    assert default_store_path() == str(default_path())


# -- the command, as Claude Code runs it ---------------------------------------------------


def run_statusline(
    *args: str, stdin: bytes, home: Path, columns: int | str | None = None
) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / ".data"), "TZ": "UTC"}
    env.pop("COLUMNS", None)  # the terminal's width, as Claude Code passes it
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run(
        [sys.executable, "-m", "cctop", "statusline", *args],
        input=stdin, capture_output=True, env=env, timeout=60, check=False,
    )  # fmt: skip


def test_command_records_and_prints(tmp_path):
    store = tmp_path / "s.sqlite3"
    result = run_statusline(
        "--store", str(store), stdin=last_of("sl-332-oauth-ratelimit-headers.jsonl"), home=tmp_path
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert out.count("\n") == 1 and "$0.05" in out and "wk 13%" in out
    samples, _ = stored.load(store)
    assert [(s.five_hour.used_percentage, s.seven_day.used_percentage) for s in samples] == [(42.0, 13.0)]


def test_command_uses_the_default_store_like_the_other_commands(tmp_path):
    result = run_statusline(stdin=last_of("sl-332-oauth-ratelimit-headers.jsonl"), home=tmp_path)
    assert result.returncode == 0
    samples, _ = stored.load(tmp_path / ".data" / "cctop" / "cctop.sqlite3")
    assert len(samples) == 1


@pytest.mark.parametrize("stdin", [b"", b"{oops", b"\x00\x01"])
def test_command_with_bad_input_prints_a_plain_line_and_exits_0(tmp_path, stdin):
    result = run_statusline("--store", str(tmp_path / "s.sqlite3"), stdin=stdin, home=tmp_path)
    assert result.returncode == 0
    assert result.stdout == b"cctop\n"
    assert not (tmp_path / "s.sqlite3").exists()


def test_command_with_an_unusable_store_still_prints(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    raw = last_of("sl-332-oauth-ratelimit-headers.jsonl")
    result = run_statusline("--store", str(blocker / "s.sqlite3"), stdin=raw, home=tmp_path)
    assert result.returncode == 0 and "wk 13%" in result.stdout.decode()
    assert b"dropped" in result.stderr


def test_chain_gets_the_same_stdin_and_its_output_is_shown(tmp_path):
    raw = last_of("sl-332-oauth-ratelimit-headers.jsonl")
    seen = tmp_path / "seen.json"
    chain = f"cat > {seen}; printf 'MINE'"
    store = ("--store", str(tmp_path / "s.sqlite3"))
    before = run_statusline(*store, "--chain", chain, "--format", "cost", stdin=raw, home=tmp_path)
    assert before.stdout == b"MINE \xe2\x94\x82 $0.05\n" and seen.read_bytes() == raw
    for position, expected in (("after", b"$0.05 \xe2\x94\x82 MINE\n"), ("below", b"MINE\n$0.05\n"),
                               ("instead", b"MINE\n")):  # fmt: skip
        result = run_statusline(*store, "--chain", chain, "--chain-position", position, "--format", "cost",
                                stdin=raw, home=tmp_path)  # fmt: skip
        assert result.stdout == expected


def test_the_line_fits_the_columns_claude_code_gives_beside_a_chained_line(tmp_path):
    raw = last_of("sl-332-oauth-ratelimit-headers.jsonl")
    wide = run_statusline("--no-store", stdin=raw, home=tmp_path).stdout.decode().rstrip("\n")
    assert wide.startswith("Sonnet 5.5 · ") and wide.endswith(" 12:01")
    fitted = run_statusline("--no-store", stdin=raw, home=tmp_path, columns=60).stdout.decode().rstrip("\n")
    assert len(fitted) <= 60 - 4 and fitted.startswith("$0.05 · ") and "wk 13% ↻Tue" in fitted
    # Their colours take no room; their text does.
    chain = "printf '\\033[31mMINE\\033[0m here'"
    beside = run_statusline("--no-store", "--chain", chain, stdin=raw, home=tmp_path, columns=60)
    theirs, ours = beside.stdout.decode().rstrip("\n").split(" │ ")
    assert theirs == "\x1b[31mMINE\x1b[0m here" and len(ours) <= 60 - 4 - len("MINE here │ ")
    assert ours.startswith("$0.05 · ") and "5h reset" in ours
    odd = run_statusline("--no-store", stdin=raw, home=tmp_path, columns="wide")
    assert odd.stdout.decode().rstrip("\n") == wide


def test_the_command_colours_a_limit_near_its_end_unless_no_color(tmp_path, monkeypatch):
    doc = json.loads(last_of("sl-332-oauth-ratelimit-headers.jsonl"))
    doc["rate_limits"]["five_hour"] = {"used_percentage": 97, "resets_at": int(time.time()) + 3600}
    raw = json.dumps(doc).encode()
    monkeypatch.delenv("NO_COLOR", raising=False)
    shown = run_statusline("--no-store", "--format", "5h", stdin=raw, home=tmp_path).stdout
    assert shown.startswith(b"\x1b[31m5h 97%") and shown.endswith(b"\x1b[0m\n")
    monkeypatch.setenv("NO_COLOR", "1")
    assert b"\x1b" not in run_statusline("--no-store", "--format", "5h", stdin=raw, home=tmp_path).stdout


def test_chain_that_fails_leaves_our_line(tmp_path):
    raw = last_of("sl-332-oauth-ratelimit-headers.jsonl")
    result = run_statusline("--no-store", "--chain", "exit 3", "--format", "cost", stdin=raw, home=tmp_path)
    assert result.returncode == 0 and result.stdout == b"$0.05\n"


def test_concurrent_calls_all_land(tmp_path):
    """Claude Code sessions run their status lines independently: none may lose another's row."""
    path = tmp_path / "s.sqlite3"
    Store.open(path, pytest.fail).close()
    raw = last_of("sl-332-oauth-ratelimit-headers.jsonl")
    errors: list[Exception] = []

    def one(i: int) -> None:
        sample, _ = parse(raw.replace(b'"used_percentage":42', b'"used_percentage":%d' % (50 + i)), float(i))
        try:
            stored.record(path, sample)  # the default, short wait: some go through the spool
        except Exception as exc:  # pragma: no cover - shown by the assert
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    samples, _ = stored.load(path)
    assert sorted(s.five_hour.used_percentage for s in samples) == [50.0 + i for i in range(16)]


# -- --install / --uninstall ---------------------------------------------------------------


def run_setup(*args: str, config: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CLAUDE_CONFIG_DIR": str(config)}
    return subprocess.run(
        [sys.executable, "-m", "cctop", "statusline", *args],
        capture_output=True, env=env, timeout=60, check=False,
    )  # fmt: skip


def settings_of(config: Path) -> dict:
    return json.loads((config / "settings.json").read_text())


def test_install_keeps_the_previous_command_as_the_chain_and_uninstall_restores_it(tmp_path):
    config = tmp_path / "claude"
    config.mkdir()
    before = {"model": "opus", "statusLine": {"type": "command", "command": "~/bin/my line.sh", "padding": 1}}
    (config / "settings.json").write_text(json.dumps(before))
    store = tmp_path / "s.sqlite3"
    result = run_setup("--install", "--store", str(store), config=config)
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert "was: ~/bin/my line.sh" in out and "backup:" in out
    after = settings_of(config)
    assert after["model"] == "opus" and after["statusLine"]["padding"] == 1
    command = after["statusLine"]["command"]
    assert shlex.split(command)[-4:] == ["--store", str(store), "--chain", "~/bin/my line.sh"]
    backups = list(config.glob("settings.json.cctop-backup-*"))
    assert len(backups) == 1 and json.loads(backups[0].read_text()) == before
    # Idempotent: a second install changes nothing.
    again = run_setup("--install", "--store", str(store), config=config)
    assert again.returncode == 0 and "already installed" in again.stdout.decode()
    assert settings_of(config)["statusLine"]["command"] == command
    assert len(list(config.glob("settings.json.cctop-backup-*"))) == 1
    # The installed command really runs (as Claude Code would: through a shell).
    raw = last_of("sl-332-oauth-ratelimit-headers.jsonl")
    runnable = command.replace("~/bin/my line.sh", "echo theirs")
    shown = subprocess.run(runnable, shell=True, check=False, input=raw, capture_output=True)
    assert shown.returncode == 0 and shown.stdout.startswith(b"theirs \xe2\x94\x82 ")
    removed = run_setup("--uninstall", config=config)
    assert removed.returncode == 0 and "now: ~/bin/my line.sh" in removed.stdout.decode()
    assert settings_of(config) == before
    assert "not installed" in run_setup("--uninstall", config=config).stdout.decode()


def test_install_into_an_empty_config_and_uninstall(tmp_path):
    config = tmp_path / "fresh"
    result = run_setup("--install", config=config)
    assert result.returncode == 0 and "was: (none)" in result.stdout.decode()
    command = settings_of(config)["statusLine"]["command"]
    assert "statusline" in command and "--chain" not in command
    assert run_setup("--uninstall", config=config).returncode == 0
    assert settings_of(config) == {}


@pytest.mark.parametrize("data", [b"{broken", b"[1]", b'{"statusLine": "weird"}', b'{"model": "\xff"}'])
def test_install_leaves_a_settings_file_it_cannot_read_alone(tmp_path, data):
    config = tmp_path / "claude"
    config.mkdir()
    (config / "settings.json").write_bytes(data)
    result = run_setup("--install", config=config)
    assert result.returncode == 1 and b"nothing was changed" in result.stderr
    assert b"Traceback" not in result.stderr
    assert (config / "settings.json").read_bytes() == data
    assert not list(config.glob("settings.json.cctop-backup-*"))
    assert not is_installed(config / "settings.json")


def test_is_installed_tells_our_command_from_others(tmp_path):
    config = tmp_path / "claude"
    settings = config / "settings.json"
    assert not is_installed(settings)  # no config dir at all
    assert run_setup("--install", config=config).returncode == 0
    assert is_installed(settings)
    theirs = {"statusLine": {"type": "command", "command": "~/bin/line.sh statusline"}}
    settings.write_text(json.dumps(theirs))
    assert not is_installed(settings)
    settings.unlink()
    settings.mkdir()  # a directory where the file should be: unreadable, not an error
    assert not is_installed(settings)


def test_the_line_is_utf8_whatever_the_locale(tmp_path):
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONIOENCODING": "ascii"}
    result = subprocess.run(
        [sys.executable, "-m", "cctop", "statusline", "--no-store", "--format", "cost,7d"],
        input=last_of("sl-332-oauth-ratelimit-headers.jsonl"), capture_output=True, env=env, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0 and result.stdout.decode("utf-8").startswith("$0.05 · wk 13% ↻")
