"""A replay of files remembers only the ids that can repeat: the same verdict for every line."""

from __future__ import annotations

import gzip
import io
import json
from collections import Counter
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from xxhash import xxh3_64_intdigest

from streams.cli import main
from streams.contract.decoding import Decoder, Rejection
from streams.generator import GeneratorConfig, generate
from streams.ingest.pipeline import Pipeline, Status
from streams.ingest.remembered_ids import id_key
from streams.ingest.repeated_ids import (
    MIN_BITS,
    block_ids,
    filter_bits,
    line_blocks,
    line_id,
    plain_id,
    repeated_keys,
)
from streams.pulse_config import PulseConfig, load_config


@pytest.fixture(scope="module")
def config() -> PulseConfig:
    return load_config(None)


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    """Generated telemetry with re-sends, too-late and malformed lines, plus re-sends the
    plain scan cannot read, each the only copy of its original: the id written with an
    escape, whitespace after the key, and a second event_id nested in the message."""
    config = GeneratorConfig(
        accounts=30,
        days=20,
        seed=11,
        duplicate_fraction=0.04,
        late_fraction=0.03,
        malformed_fraction=0.03,
    )
    lines = [message.value for message in generate(config)]
    middle = lines[len(lines) // 2 :]  # within every horizon of the end
    valid = [line for line in middle if b'"type":"login"' in line and b"-x" not in line][:3]
    escaped, spaced, nested = (orjson.loads(line) for line in valid)
    respelled = [
        orjson.dumps(escaped).replace(b'"evt-', b'"evt\\u002d', 1),
        orjson.dumps(spaced).replace(b'"event_id":', b'"event_id" : ', 1),
        orjson.dumps({**nested, "properties": {"event_id": "other"}}),
    ]
    return lines + respelled


def blocks_of(lines: list[bytes], size: int = 4096) -> list[bytes]:
    """The lines as the first read reads them: blocks of whole lines of about `size` bytes."""
    return list(line_blocks(io.BytesIO(b"\n".join(lines) + b"\n").read, size))


def outcomes(config: PulseConfig, lines: list[bytes], may_repeat: set[int] | None) -> list[Status]:
    pipeline = Pipeline(config, clock=None, check_topic=False, may_repeat=may_repeat)
    return [pipeline.process(line, "test", 0, offset).status for offset, line in enumerate(lines)]


def as_read(line: bytes, decoder: Decoder) -> bytes | None:
    """The id the first read takes from a line (the module header's rule)."""
    data = plain_id(line)
    if data is None:
        decoded = decoder.decode(line)
        data = None if isinstance(decoded, Rejection) else decoded.event_id.encode()
    return data


def test_plain_lines_give_the_bytes_between_the_quotes() -> None:
    assert plain_id(b'{"event_id":"e-1","type":"login"}') == b"e-1"
    assert plain_id('{"event_id":"é-1"}'.encode()) == "é-1".encode()
    assert plain_id(b'{"type":"login","event_id":"e-1"}\r\n') == b"e-1"


@pytest.mark.parametrize(
    "line",
    [
        b'{"event_id":"e\\u002d1"}',  # an escape: only a decoder reads it
        b'{"event_id" : "e-1"}',  # whitespace after the key
        b'{"event_id":"e-1","p":{"event_id":"e-2"}}',  # two event_id tokens
        b'{"p":{"event_id" : 1},"event_id":"e-1"}',  # another one before it
        b'{"event_id":"e-1',  # cut short
        b'{"type":"login"}',
    ],
)
def test_other_lines_are_left_to_the_decoder(line: bytes) -> None:
    assert plain_id(line) is None


def test_every_repeated_id_is_kept_even_by_a_tiny_filter(
    config: PulseConfig, lines: list[bytes]
) -> None:
    decoder = Decoder()
    ids = []
    for line in lines:
        decoded = decoder.decode(line)
        if not isinstance(decoded, Rejection):
            ids.append(decoded.event_id)
    repeated = {id_key(event_id) for event_id, count in Counter(ids).items() if count > 1}
    assert repeated  # the data re-sends
    blocks = blocks_of(lines)
    # the filter from the 100th line on, nearly every bit set: false positives
    tiny = repeated_keys(blocks, 64, decoder.decode, max_held=100)
    assert repeated <= tiny and len(tiny) > 2 * len(repeated)
    # with room, exactly the ids read more than once (a rejected line's too, when plain)
    read = Counter(as_read(line, decoder) for line in lines)
    read_twice = {
        xxh3_64_intdigest(data) for data, count in read.items() if data is not None and count > 1
    }
    assert repeated <= read_twice
    assert repeated_keys(blocks, 64, decoder.decode) == read_twice  # held exactly
    assert repeated_keys(blocks, 1 << 27, decoder.decode, max_held=100) == read_twice


def test_remembering_only_repeated_ids_gives_every_line_the_same_verdict(
    config: PulseConfig, lines: list[bytes]
) -> None:
    everything = outcomes(config, lines, None)
    assert everything.count(Status.DUPLICATE) > 3
    assert everything[-3:-1] == [Status.DUPLICATE] * 2  # the respelled copies
    for max_held in (100, len(lines)):  # the filter, or every key held
        bits = filter_bits(sum(map(len, lines)))
        kept = repeated_keys(blocks_of(lines), bits, config.decoder().decode, max_held)
        assert outcomes(config, lines, kept) == everything
    # the check can fail: remembering nothing loses the duplicates
    assert outcomes(config, lines, set()) != everything


def test_only_the_kept_ids_are_remembered(config: PulseConfig, lines: list[bytes]) -> None:
    kept = repeated_keys(blocks_of(lines), 1 << 22, config.decoder().decode)
    pipeline = Pipeline(config, clock=None, check_topic=False, may_repeat=kept)
    for offset, line in enumerate(lines):
        pipeline.process(line, "test", 0, offset)
    stored = {
        key
        for account in pipeline.admission.state.values()
        for lane in account.lanes.values()
        for key, _, _ in lane.ids.items()
    }
    assert stored and stored <= kept


def test_a_block_gives_the_ids_of_its_lines_read_one_by_one(lines: list[bytes]) -> None:
    """One scan for a block of plain lines, line by line otherwise: every id a line gives
    read alone (the scan may add a stray one, from a line that nests one)."""
    decoder = Decoder()
    blocks = blocks_of(lines, 2048)
    assert b"".join(blocks) == b"\n".join(lines) + b"\n" and len(blocks) > 20
    scanned = 0
    for block in blocks:
        ids = Counter(block_ids(block, decoder.decode))
        alone = (line_id(line, decoder.decode) for line in block.splitlines())
        expected = Counter(data for data in alone if data is not None)
        assert not expected - ids
        assert set(ids - expected) <= {b"other"}  # the nested id of one re-send
        scanned += b"\\" not in block and block.count(b'"event_id"') == block.count(
            b'{"event_id":"'
        )
    assert 0 < scanned < len(blocks)  # both ways were taken
    for block, ids in (
        (b'{"event_id":"a"}\n{"type":"x","event_id":"b"}\n', [b"a", b"b"]),  # line by line
        (b'{"event_id":"a","p":{"event_id":"c"}}\n', [b"a", b"c"]),  # one scan, a stray id
    ):
        assert block_ids(block, decoder.decode) == ids


def test_blocks_hold_whole_lines() -> None:
    data = b"first line\nsecond\n\nlast without a break"
    for size in (1, 3, 7, 100):
        blocks = list(line_blocks(io.BytesIO(data).read, size))
        assert b"".join(blocks) == data + b"\n"
        assert all(block.endswith(b"\n") for block in blocks)
    assert list(line_blocks(io.BytesIO(b"").read)) == []


def test_the_filter_grows_with_the_input_in_powers_of_two() -> None:
    assert filter_bits(0) == MIN_BITS
    assert filter_bits(100_000_000) == 1 << 24  # 16 M bits wanted
    assert filter_bits(10**12) == 1 << 30


def mixed_spellings(lines: list[bytes]) -> bytes:
    """The lines as several producers might write them: some with the event_id last, some
    with spaces after the separators, some ids with an escape, CRLF line ends, blank and
    whitespace lines, re-sends spelled differently from their original, and no line
    break after the last line. Every block of the first read meets both of its ways."""
    spelled: list[bytes] = []
    for number, raw in enumerate(lines):
        try:
            event = json.loads(raw)
        except ValueError:
            event = None
        if isinstance(event, dict) and "event_id" in event:
            if number % 11 == 0:
                event["event_id"] = event.pop("event_id")  # last
                raw = json.dumps(event, separators=(",", ":")).encode()
            elif number % 13 == 0:
                raw = json.dumps(event).encode()  # spaces after ':' and ','
            elif number % 17 == 0:
                raw = raw.replace(b'"event_id":"e', b'"event_id":"\\u0065', 1)
            if number % 19 == 0:
                spelled.append(raw)
                raw = json.dumps(event, indent=None, separators=(" ,", " : ")).encode()  # a re-send
        spelled.append(raw + (b"\r" if number % 7 == 0 else b""))
        if number % 23 == 0:
            spelled.append(b" " * (number % 3))
    return b"\n".join(spelled)


@pytest.mark.parametrize("spelling", ["generated", "mixed"])
def test_a_file_gives_the_bytes_of_stdin_which_remembers_every_id(
    lines: list[bytes], tmp_path: Path, spelling: str
) -> None:
    data = b"\n".join(lines) + b"\n" if spelling == "generated" else mixed_spellings(lines)
    (tmp_path / "events.jsonl").write_bytes(data)
    (tmp_path / "events.jsonl.gz").write_bytes(gzip.compress(data))
    runs = {
        "stdin": (["-"], data),
        "file": ([str(tmp_path / "events.jsonl"), "--jobs", "1"], None),
        "gzip": ([str(tmp_path / "events.jsonl.gz"), "--jobs", "1"], None),
        "jobs": ([str(tmp_path / "events.jsonl.gz"), "--jobs", "2"], None),
        "three": ([str(tmp_path / "events.jsonl"), "--jobs", "3"], None),
    }
    for name, (args, stdin) in runs.items():
        out = tmp_path / f"{name}.prom"
        result = CliRunner().invoke(main, ["replay", *args, "--out", str(out)], input=stdin)
        assert result.exit_code == 0, result.output
        if name == "stdin":
            assert " 0 duplicates" not in result.output
    for name in runs:
        assert (tmp_path / f"{name}.prom").read_bytes() == (tmp_path / "stdin.prom").read_bytes()


def test_lanes_without_an_id_share_one_empty_set_and_never_change_it() -> None:
    from streams.ingest.admission import LaneAdmission

    quiet, busy, other = LaneAdmission(), LaneAdmission(), LaneAdmission()
    assert quiet.ids is busy.ids is other.ids and quiet.ids.stored() == 0
    quiet.accept("e-0", 1_000, 10_000, from_stream_time=False)  # a lane of ids never repeated
    busy.accept_found(0, b"", -1, 2_000, 10_000, False, remember=False)
    assert busy.ids is other.ids and busy.stream_time == 2_000
    assert quiet.ids is not other.ids and quiet.remembers("e-0")
    other.accept("e-1", 1_000, 10_000, from_stream_time=False)
    assert other.remembers("e-1") and not other.remembers("e-0")
    assert not busy.remembers("e-0") and not busy.remembers("e-1") and busy.ids.stored() == 0
