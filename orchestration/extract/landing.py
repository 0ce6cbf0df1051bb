"""Landing zone -> the day's validated conversations and quarantine rows.

`CX_LANDING_DIR/<YYYY-MM-DD>/*.jsonl`, any number of files a day, read in name order. Every
non-blank line ends up either as a conversation or as a quarantine row with a reason; a
conversation_id seen twice in a day keeps its last occurrence and quarantines the earlier ones.

How, at scale: the files are read in chunks of lines (bytes, never one Python object per field),
and DuckDB checks each chunk against the input contract in SQL (`orchestration/contract` stays
the contract: the SQL accepts a line only where the pydantic model certainly would and would
produce the same values). Every line the SQL does not accept goes through the pydantic parser,
which either accepts it (the SQL is deliberately narrow, e.g. a timestamp that is not plain
ISO-8601) or says precisely why not (file, line, conversation_id, field, reason). Each chunk's
accepted messages go straight to Parquet in file order; conversations (small) are staged in
DuckDB (it spills to a temp folder past its memory limit), duplicates are resolved there, and
the day comes out as Parquet tables (or Arrow, for small days) with messages in the
conversations' order.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.contract import MAX_MESSAGE_CHARS, ContractError, Conversation, parse_record
from orchestration.lake.partition import (
    ROW_GROUP_ROWS,
    LakePartition,
    PartitionWriter,
    Tables,
    batches,
)
from orchestration.warehouse.schema import arrow_schema

__all__ = [
    "DAY_SCHEMAS",
    "ExtractedDay",
    "Located",
    "day_dir",
    "extract_day",
    "landing_files",
    "quarantine_errors",
    "quarantine_table",
]

#: Bytes read per chunk (a chunk ends at a line end); DuckDB validates one chunk at a time.
CHUNK_BYTES = 32 * 2**20
#: Lines per Arrow record batch of a chunk: DuckDB scans a chunk's batches in parallel.
BATCH_LINES = 1024
#: What the staging DuckDB may hold in memory before it spills to its temp folder.
DUCKDB_MEMORY_LIMIT = "1GB"

#: The tables of an extracted day (the lake partition of `raw_conversations`).
DAY_SCHEMAS: dict[str, pa.Schema] = {
    "conversations": arrow_schema("raw.conversations"),
    "messages": arrow_schema("raw.messages"),
    "quarantine": arrow_schema("raw.quarantine"),
    "files": pa.schema([("source_file", pa.string()), ("lines", pa.int64())]),
}


@dataclass(frozen=True, slots=True)
class Located:
    """A valid conversation and where it came from."""

    conversation: Conversation
    source_file: str
    source_line: int


@dataclass
class ExtractedDay:
    """One day, extracted: tables shaped like `raw.conversations/messages/quarantine`, plus
    `files` (lines per landing file), in the lake folder `partition` (or in memory when
    `extract_day` was given no folder)."""

    day: date
    files: list[str]
    lines_in: int = 0
    lines_per_file: dict[str, int] = field(default_factory=dict)
    partition: LakePartition | None = None
    _tables: dict[str, pa.Table] = field(default_factory=dict, repr=False)

    def tables(self) -> dict[str, pa.Table]:
        """Every table of the day in memory (small days and tests)."""
        if self.partition is not None:
            return self.partition.in_memory()
        return dict(self._tables)

    @property
    def output(self) -> Tables:
        """The day's tables where they are: the lake folder, else the in-memory tables."""
        return self.partition if self.partition is not None else self._tables

    @property
    def quarantine(self) -> list[tuple[ContractError, str]]:
        """Every refused line as (error, raw line), in file and line order."""
        return quarantine_errors(self.output)

    @property
    def conversations(self) -> list[Located]:
        """The kept conversations as contract objects (built row by row: small days only)."""
        from orchestration.scoring.frame import conversations_from_tables

        return [
            Located(conversation, meta["source_file"], meta["source_line"])
            for conversation, meta in conversations_from_tables(self.output)
        ]


def quarantine_errors(tables: Tables, limit: int | None = None) -> list[tuple[ContractError, str]]:
    """The first `limit` (default: all) quarantine rows of a partition as (error, raw line)."""
    out: list[tuple[ContractError, str]] = []
    for batch in batches(tables, "quarantine"):
        for r in batch.to_pylist():
            if limit is not None and len(out) >= limit:
                return out
            error = ContractError(
                r["source_file"],
                r["source_line"],
                r["conversation_id"],
                r["field"],
                r["reason"],
                r["detail"],
            )
            out.append((error, r["raw_line"]))
    return out


def day_dir(landing_dir: Path, day: date) -> Path:
    return landing_dir / day.isoformat()


def landing_files(landing_dir: Path, day: date) -> list[Path]:
    folder = day_dir(landing_dir, day)
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


_CHUNK_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("file_no", pa.int32()),
        ("line_no", pa.int64()),
        ("off", pa.int64()),
        ("raw", pa.large_binary()),
    ]
)


def _chunks(paths: list[Path], chunk_bytes: int) -> Iterator[pa.Table]:
    """Every line of the files as Arrow, a chunk at a time: global order, file, number, byte
    offset and the raw bytes, each value ending in its own line feed (the last line of a file
    may have none; JSON treats the feed as whitespace). The binary column is a memory-mapped
    slice of the file under an offsets array found with numpy: no copy of the text,
    no Python object per line. The table comes in record batches of `BATCH_LINES`, which DuckDB
    scans in parallel. A chunk ends at a line end (a line longer than `chunk_bytes` is a chunk
    of its own)."""
    seq = 0
    for file_no, path in enumerate(paths):
        line_no, at, size = 0, 0, path.stat().st_size
        while at < size:
            data = _mapped(path, at, min(chunk_bytes, size - at))
            ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10) + 1
            while not ends.size and at + data.size < size:  # one line past chunk_bytes
                data = _mapped(path, at, min(2 * data.size, size - at))
                ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10) + 1
            if at + data.size == size and (not ends.size or ends[-1] != data.size):
                ends = np.append(ends, data.size)  # the file's last line, with no feed
            data = data.slice(0, int(ends[-1]))
            n = len(ends)
            offsets = np.concatenate(([0], ends)).astype(np.int64)
            raw = pa.Array.from_buffers(pa.large_binary(), n, [None, pa.py_buffer(offsets), data])
            table = pa.Table.from_arrays(
                [
                    pa.array(np.arange(seq, seq + n, dtype=np.int64)),
                    pa.array(np.full(n, file_no, dtype=np.int32)),
                    pa.array(np.arange(line_no + 1, line_no + n + 1, dtype=np.int64)),
                    pa.array(at + offsets[:-1]),
                    raw,
                ],
                schema=_CHUNK_SCHEMA,
            )
            yield pa.Table.from_batches(table.to_batches(max_chunksize=BATCH_LINES))
            seq, line_no, at = seq + n, line_no + n, at + data.size


def _mapped(path: Path, offset: int, length: int) -> pa.Buffer:
    """`length` bytes of the file from `offset`, memory-mapped (no copy). The file is mapped
    per chunk and the map closed at once: the buffer keeps its pages mapped until the chunk's
    table is dropped, so only the chunks in use count towards the process's RSS."""
    with pa.memory_map(str(path)) as mapped:
        mapped.seek(offset)
        return mapped.read_buffer(length)


_TS_RX = (
    r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?"
)

# Absent or JSON null is fine; a string must be plain ISO-8601 that DuckDB reads as a time.
# Anything else (epoch numbers, other layouts) is left to the pydantic parser.
_MACROS = f"""
CREATE OR REPLACE TEMP MACRO cx_str(v) AS json_extract_string(v, '$');
CREATE OR REPLACE TEMP MACRO cx_null(v) AS v IS NULL OR v::VARCHAR = 'null';
CREATE OR REPLACE TEMP MACRO cx_ts(s) AS
    CASE WHEN regexp_full_match(s, '{_TS_RX}') THEN try_cast(s AS TIMESTAMPTZ) END;
CREATE OR REPLACE TEMP MACRO cx_ts_ok(s) AS s IS NULL OR cx_ts(s) IS NOT NULL;
"""

#: The messages of a chunk's lines that the pydantic parser accepted (recreated per chunk).
_MSG_STAGE_DDL = """
CREATE OR REPLACE TABLE msg_stage (
    seq BIGINT, conversation_id VARCHAR, message_index INTEGER, role VARCHAR,
    author_kind VARCHAR, author_id VARCHAR, sent_at TIMESTAMPTZ, text VARCHAR);
"""

_STAGE_DDL = """
CREATE TABLE conv_stage (
    seq BIGINT, file_no INTEGER, off BIGINT, len BIGINT, conversation_id VARCHAR,
    channel VARCHAR, team VARCHAR, started_at TIMESTAMPTZ, ended_at TIMESTAMPTZ,
    message_count INTEGER, csat_score INTEGER, csat_sent_at TIMESTAMPTZ,
    csat_answered_at TIMESTAMPTZ, is_surveyed BOOLEAN, tags VARCHAR, source_line BIGINT);
CREATE TABLE refused (
    seq BIGINT, file_no INTEGER, source_line BIGINT, conversation_id VARCHAR, field VARCHAR,
    reason VARCHAR, detail VARCHAR, raw_line VARCHAR);
"""

# The record's shape for DuckDB's `json_transform` (one parse per line). Fields whose JSON type
# matters to the contract (a number is not a string) come as JSON text and are checked below;
# enumerations and timestamps come as VARCHAR (a wrong type cannot pass their checks).
_SHAPE = json.dumps(
    {
        "conversation_id": "JSON",
        "channel": "VARCHAR",
        "started_at": "VARCHAR",
        "ended_at": "VARCHAR",
        "team": "JSON",
        "messages": [
            {
                "role": "VARCHAR",
                "text": "JSON",
                "author_kind": "VARCHAR",
                "author_id": "JSON",
                "sent_at": "VARCHAR",
            }
        ],
        "csat": "JSON",
        "tags": "JSON",
    }
)

# One chunk of lines -> one row per non-blank line, in one query that DuckDB runs in parallel
# over the chunk's record batches: the record-level contract (`pre_ok`), every message's contract
# and a customer among them (`messages_ok`, list functions over the line's own messages: no
# per-message table, no join), the messages with their final types (`msgs`), the start and end
# times, `accepted` (the line needs no pydantic) and, where accepted, the conversation's columns.
# Every expression that could fail on a refused line (a cast) sits under CASE WHEN accepted.
# DuckDB's JSON reader is more lenient than the contract's: it takes trailing commas and any
# non-finite number (nan, inf, -Infinity in any case; the contract only NaN, Infinity and
# -Infinity). Lines that might hold either (`_LENIENT`: a comma before a closing bracket, or a
# value starting nan or inf in any case) go to the pydantic parser, as does any text that is
# not UTF-8.
_LENIENT = r",[ \t\n\r]*[\]}]|[:,\[][ \t\n\r]*[-+]?(?i:nan|inf)"

_VALIDATE = r"""
CREATE OR REPLACE TEMP TABLE v AS
WITH t AS (
    SELECT seq, file_no, line_no, off, octet_length(raw) AS len, try(decode(raw)) AS txt
    FROM chunk
), j AS (
    SELECT *, CASE WHEN NOT regexp_matches(txt, '{lenient}')
                   THEN try(json_transform(txt, '{shape}')) END AS r
    FROM t
    WHERE txt IS NULL OR NOT regexp_full_match(txt, '[ \t\n\r\v\f]*')
), c AS (
    SELECT seq, file_no, line_no, off, len, r,
    coalesce(r IS NOT NULL
          AND left(r.conversation_id::VARCHAR, 1) = '"'
          AND strlen(cx_str(r.conversation_id)) BETWEEN 1 AND 256
          AND regexp_matches(cx_str(r.conversation_id), '[\p{L}\p{N}\p{P}\p{S}]')
          AND r.channel IN ('chat', 'email', 'phone', 'social', 'other')
          AND cx_ts_ok(r.started_at) AND cx_ts_ok(r.ended_at)
          AND (cx_null(r.team) OR left(r.team::VARCHAR, 1) = '"')
          AND len(r.messages) >= 1
          AND (cx_null(r.csat) OR (json_type(r.csat) = 'OBJECT'
               AND (cx_null(r.csat->'$.score')
                    OR (json_type(r.csat->'$.score') IN ('BIGINT', 'UBIGINT')
                        AND (r.csat->>'$.score')::BIGINT BETWEEN 1 AND 5))
               AND cx_ts_ok(cx_str(r.csat->'$.sent_at'))
               AND cx_ts_ok(cx_str(r.csat->'$.answered_at'))
               AND (cx_null(r.csat->'$.sent_at') OR json_type(r.csat->'$.sent_at') = 'VARCHAR')
               AND (cx_null(r.csat->'$.answered_at')
                    OR json_type(r.csat->'$.answered_at') = 'VARCHAR')))
          AND (r.tags IS NOT NULL OR NOT contains(txt, '"tags"'))  -- null is not absent
          AND (r.tags IS NULL OR (json_type(r.tags) = 'ARRAY'
               AND coalesce(list_bool_and(list_transform(from_json(r.tags, '["JSON"]'),
                   lambda x: json_type(x) = 'VARCHAR' AND regexp_full_match(cx_str(x), '[ -~]*'))),
                   true))), false) AS pre_ok
    FROM j
), m AS (
    SELECT *,
        CASE WHEN pre_ok THEN list_transform(r.messages, lambda m: struct_pack(
            role := m.role, author_kind := m.author_kind, author_id := cx_str(m.author_id),
            sent_at := cx_ts(m.sent_at), text := cx_str(m.text))) END AS msgs,
        CASE WHEN pre_ok THEN coalesce(
            list_bool_and(list_transform(r.messages, lambda m: coalesce(
                m.role IN ('customer', 'agent', 'system')
                AND left(m.text::VARCHAR, 1) = '"' AND strlen(cx_str(m.text)) <= {max_chars}
                AND (m.author_kind IS NULL OR m.author_kind IN ('ai', 'human'))
                AND (m.role <> 'agent' OR m.author_kind IS NOT NULL)
                AND (cx_null(m.author_id) OR left(m.author_id::VARCHAR, 1) = '"')
                AND cx_ts_ok(m.sent_at), false)))
            AND list_bool_or(list_transform(r.messages, lambda m: m.role = 'customer')),
            false) END AS messages_ok
    FROM c
), a AS (
    SELECT *,
        CASE WHEN messages_ok THEN coalesce(cx_ts(r.started_at),
            list_min(list_transform(msgs, lambda m: m.sent_at))) END AS started_at,
        CASE WHEN messages_ok THEN coalesce(cx_ts(r.ended_at),
            list_max(list_transform(msgs, lambda m: m.sent_at))) END AS ended_at
    FROM m
), ok AS (
    SELECT *, coalesce(messages_ok AND started_at IS NOT NULL
                       AND (ended_at IS NULL OR ended_at >= started_at), false) AS accepted
    FROM a
)
SELECT seq, file_no, line_no, off, len, accepted,
    CASE WHEN accepted THEN cx_str(r.conversation_id) END AS conversation_id,
    CASE WHEN accepted THEN r.channel END AS channel,
    CASE WHEN accepted THEN cx_str(r.team) END AS team,
    started_at, ended_at, CASE WHEN accepted THEN len(msgs) END AS message_count,
    CASE WHEN accepted AND NOT cx_null(r.csat) THEN (r.csat->>'$.score')::INTEGER END
        AS csat_score,
    CASE WHEN accepted AND NOT cx_null(r.csat) THEN cx_ts(cx_str(r.csat->'$.sent_at')) END
        AS csat_sent_at,
    CASE WHEN accepted AND NOT cx_null(r.csat) THEN cx_ts(cx_str(r.csat->'$.answered_at')) END
        AS csat_answered_at,
    CASE WHEN accepted THEN NOT cx_null(r.csat) END AS is_surveyed,
    CASE WHEN NOT accepted THEN NULL WHEN r.tags IS NULL THEN '[]' ELSE '[' || array_to_string(
        list_transform(from_json(r.tags, '["JSON"]'), lambda x: x::VARCHAR), ', ') || ']' END
        AS tags,
    CASE WHEN accepted THEN msgs END AS msgs
FROM ok
"""

_INSERT_OK = """
INSERT INTO conv_stage SELECT
    seq, file_no, off, len, conversation_id, channel, team, started_at, ended_at,
    message_count, csat_score, csat_sent_at, csat_answered_at, is_surveyed, tags, line_no
FROM v WHERE accepted;
"""


def _python_rows(
    seq: int, file_no: int, off: int, length: int, line_no: int, c: Conversation
) -> tuple[dict, list[dict]]:
    """The staged rows of one conversation the pydantic parser accepted."""
    csat = c.csat
    conversation = {
        "seq": seq,
        "file_no": file_no,
        "off": off,
        "len": length,
        "conversation_id": c.conversation_id,
        "channel": c.channel,
        "team": c.team,
        "started_at": c.started_at,
        "ended_at": c.ended_at,
        "message_count": len(c.messages),
        "csat_score": csat.score if csat else None,
        "csat_sent_at": csat.sent_at if csat else None,
        "csat_answered_at": csat.answered_at if csat else None,
        "is_surveyed": csat is not None,
        "tags": json.dumps(c.tags),
        "source_line": line_no,
    }
    messages = [
        {
            "seq": seq,
            "conversation_id": c.conversation_id,
            "message_index": index,
            "role": m.role,
            "author_kind": m.author_kind,
            "author_id": m.author_id,
            "sent_at": m.sent_at,
            "text": m.text,
        }
        for index, m in enumerate(c.messages)
    ]
    return conversation, messages


def _append(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict]) -> None:
    if not rows:
        return
    names = [d[0] for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description]
    incoming = pa.Table.from_pylist([{k: r.get(k) for k in names} for r in rows])
    con.register("incoming", incoming)
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming")
    finally:
        con.unregister("incoming")


def _fallback(
    con: duckdb.DuckDBPyConnection, chunk: pa.Table, names: list[str], sql_ok: bool
) -> int:
    """The pydantic parser for every line the SQL did not accept (all lines when not sql_ok);
    returns how many messages of the lines it accepted were staged in `msg_stage`."""
    query = "SELECT seq, file_no, line_no, off, len FROM v"
    if sql_ok:
        query += " WHERE NOT accepted"
    todo = con.execute(query + " ORDER BY seq").fetchall()
    if not todo:
        return 0
    first = chunk.column("seq")[0].as_py()
    raw = chunk.column("raw")
    conversations: list[dict] = []
    messages: list[dict] = []
    refused: list[dict] = []
    for seq, file_no, line_no, off, length in todo:
        line = raw[seq - first].as_py().rstrip(b"\r\n")
        parsed = parse_record(line, names[file_no], line_no)
        if isinstance(parsed, ContractError):
            refused.append(
                {
                    "seq": seq,
                    "file_no": file_no,
                    "source_line": line_no,
                    "conversation_id": parsed.conversation_id,
                    "field": parsed.field,
                    "reason": parsed.reason,
                    "detail": parsed.detail,
                    "raw_line": line.decode("utf-8", errors="replace"),
                }
            )
        else:
            conversation, rows = _python_rows(seq, file_no, off, length, line_no, parsed)
            conversations.append(conversation)
            messages += rows
    _append(con, "conv_stage", conversations)
    _append(con, "msg_stage", messages)
    _append(con, "refused", refused)
    return len(messages)


def _staging(tmp: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")  # spills to temp_directory past memory_limit
    con.execute(f"SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'")
    con.execute(f"SET temp_directory = '{tmp / 'spill'}'")
    con.execute("SET preserve_insertion_order = true")
    con.execute("SET TimeZone = 'UTC'")
    con.execute(_MACROS)
    con.execute(_STAGE_DDL)
    return con


def _superseded_raw(paths: list[Path], rows: list[tuple]) -> list[str]:
    """The raw text of duplicate lines, read back by byte offset (duplicates are rare)."""
    out = []
    for file_no, off, length in rows:
        with paths[file_no].open("rb") as handle:
            handle.seek(off)
            line = handle.read(length).rstrip(b"\r\n")
        out.append(line.decode("utf-8", errors="replace"))
    return out


def extract_day(
    landing_dir: Path,
    day: date,
    *,
    out_dir: Path | None = None,
    sql: bool = True,
    chunk_bytes: int = CHUNK_BYTES,
) -> ExtractedDay:
    """Read and validate every landing file of one day.

    The tables are streamed as Parquet into `out_dir` (`ExtractedDay.partition`); with no
    `out_dir` they are read back into memory (small days, tests). `sql=False` sends every line
    through the pydantic parser (the reference the SQL fast path is tested against); the result
    is the same either way.
    """
    paths = landing_files(landing_dir, day)
    names = [f"{day.isoformat()}/{p.name}" for p in paths]
    out = ExtractedDay(day=day, files=[p.name for p in paths])
    tmp = Path(tempfile.mkdtemp(prefix="cx-extract-"))
    try:
        con = _staging(tmp)
        writer = PartitionWriter(out_dir or tmp / "day", DAY_SCHEMAS)
        with writer:
            # Messages go to Parquet a chunk at a time (never staged for the whole day): in the
            # conversations' order, every staged conversation's, superseded ones included; the
            # rare day with duplicates is filtered at the end (`_finish`).
            part = writer.folder / "messages.parquet.part"
            counts = [0] * len(paths)
            with _BackgroundWriter(part, DAY_SCHEMAS["messages"]) as messages:
                for chunk in _chunks(paths, chunk_bytes):
                    con.execute(_MSG_STAGE_DDL)
                    con.register("chunk", chunk)
                    con.execute(
                        _VALIDATE.replace("{shape}", _SHAPE)
                        .replace("{lenient}", _LENIENT)
                        .replace("{max_chars}", str(MAX_MESSAGE_CHARS))
                    )
                    con.unregister("chunk")
                    for file_no, n in con.execute(
                        "SELECT file_no, count(*) FROM v GROUP BY file_no"
                    ).fetchall():
                        counts[file_no] += n
                    if sql:
                        con.execute(_INSERT_OK)
                    parsed = _fallback(con, chunk, names, sql)
                    for batch in con.sql(_chunk_messages(day, sql, parsed)).to_arrow_reader(
                        ROW_GROUP_ROWS
                    ):
                        messages.write(batch)
            con.execute("DROP TABLE IF EXISTS v")
            con.execute("DROP TABLE IF EXISTS msg_stage")
            out.lines_per_file = dict(zip(names, counts, strict=True))
            out.lines_in = sum(counts)
            _finish(con, day, paths, names, writer, part)
            writer.append(
                "files",
                pa.table({"source_file": list(out.lines_per_file), "lines": counts}),
            )
            partition = writer.close()
        con.close()
        if out_dir is None:
            out._tables = partition.in_memory()
        else:
            out.partition = partition
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


class _BackgroundWriter:
    """A zstd Parquet file written batch by batch in a thread of its own, so that compressing
    a chunk's messages overlaps with DuckDB validating the next chunk (pyarrow releases the
    GIL while it encodes). At most `MAX_PENDING` batches wait, which bounds the memory; the
    first write error is raised in the caller, at its next write or at the end."""

    MAX_PENDING = 4

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.schema = schema
        self._file = pq.ParquetWriter(path, schema, compression="zstd")
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cx-extract-write")
        self._pending: deque[Future] = deque()

    def write(self, batch: pa.RecordBatch) -> None:
        while len(self._pending) >= self.MAX_PENDING:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self._file.write_batch, batch.cast(self.schema)))

    def __enter__(self) -> _BackgroundWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            while self._pending:  # every batch is written (or its error raised) before closing
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._file.close()


def _chunk_messages(day: date, sql: bool, parsed: int) -> str:
    """The query of a chunk's accepted messages in line order: the SQL path's straight from `v`
    (not copied into a table first) and the few the pydantic parser accepted (`msg_stage`).
    With none of the latter (the usual chunk), `v`'s rows unnested in place are already in
    order (the connection preserves insertion order), so there is no sort. `parsed`: how many
    messages the pydantic parser staged."""
    parts = ([_SQL_PATH_MESSAGES] if sql else []) + ([_PARSED_MESSAGES] if parsed else [])
    if not parts:
        parts = [_PARSED_MESSAGES]  # no rows, but the columns
    query = f"SELECT {_MESSAGE_COLUMNS} FROM ({' UNION ALL '.join(parts)})"
    if len(parts) > 1:
        query += " ORDER BY seq, message_index"
    return query.replace("{day}", day.isoformat())


_MESSAGE_COLUMNS = (
    "partition_date, conversation_id, message_index, role, author_kind, author_id, sent_at, text"
)
_SQL_PATH_MESSAGES = """
    SELECT seq, DATE '{day}' AS partition_date, conversation_id,
           unnest(range(message_count)) AS message_index, unnest(msgs, recursive := true)
    FROM v WHERE accepted"""
_PARSED_MESSAGES = """
    SELECT seq, DATE '{day}' AS partition_date, conversation_id, message_index, role,
           author_kind, author_id, sent_at, text
    FROM msg_stage"""


def _finish(
    con: duckdb.DuckDBPyConnection,
    day: date,
    paths: list[Path],
    names: list[str],
    writer: PartitionWriter,
    messages_part: Path,
) -> None:
    """Resolve duplicates (the last occurrence in a day wins) and stream the day's tables to
    `writer`: messages in the conversations' order (conversation, then message_index), so a
    reader can walk both files side by side. `messages_part` holds every staged conversation's
    messages in that order: with no duplicates it becomes the table as is (a rename)."""
    con.execute("CREATE TEMP TABLE files AS SELECT unnest(?) AS source_file, "
                "unnest(range(?)) AS file_no", [names, len(names)])  # fmt: skip
    con.execute(
        """CREATE TEMP TABLE ranked AS SELECT seq, file_no, off, len, source_line, conversation_id,
               lead(seq) OVER w AS next_seq, lead(file_no) OVER w AS next_file,
               lead(source_line) OVER w AS next_line
           FROM conv_stage WINDOW w AS (PARTITION BY conversation_id ORDER BY seq)"""
    )
    dups = con.execute(
        """SELECT r.seq, r.file_no, r.source_line, r.conversation_id, f.source_file || ':'
                  || r.next_line, r.off, r.len
           FROM ranked r JOIN files f ON f.file_no = r.next_file
           WHERE r.next_seq IS NOT NULL ORDER BY r.seq"""
    ).fetchall()
    if dups:
        raws = _superseded_raw(paths, [(d[1], d[5], d[6]) for d in dups])
        _append(
            con,
            "refused",
            [
                {
                    "seq": seq,
                    "file_no": file_no,
                    "source_line": line,
                    "conversation_id": cid,
                    "field": "conversation_id",
                    "reason": "duplicate_conversation_id",
                    "detail": f"superseded by {by} (the last occurrence in a day wins)",
                    "raw_line": raw,
                }
                for (seq, file_no, line, cid, by, _, _), raw in zip(dups, raws, strict=True)
            ],
        )
    con.execute("CREATE TEMP TABLE kept AS SELECT seq FROM ranked WHERE next_seq IS NULL")

    def stream(name: str, query: str) -> None:
        writer.write(name, con.sql(query).to_arrow_reader(ROW_GROUP_ROWS))

    stream(
        "conversations",
        f"""SELECT DATE '{day}' AS partition_date, c.conversation_id, channel, team, started_at,
                  ended_at, message_count, csat_score, csat_sent_at, csat_answered_at,
                  is_surveyed, tags, f.source_file, source_line
           FROM conv_stage c SEMI JOIN kept USING (seq) JOIN files f USING (file_no)
           ORDER BY seq""",
    )
    if not dups:
        writer.adopt("messages", messages_part)
    else:
        keep = con.sql(
            """SELECT c.message_count, r.next_seq IS NULL AS keep
               FROM conv_stage c JOIN ranked r USING (seq) ORDER BY c.seq"""
        ).fetchnumpy()
        mask = np.repeat(keep["keep"], keep["message_count"])
        at = 0
        with pq.ParquetFile(messages_part) as staged:
            for batch in staged.iter_batches(batch_size=ROW_GROUP_ROWS):
                writer.append("messages", batch.filter(pa.array(mask[at : at + batch.num_rows])))
                at += batch.num_rows
        messages_part.unlink()
    stream(
        "quarantine",
        f"""SELECT DATE '{day}' AS partition_date, 'extract' AS stage, f.source_file, source_line,
                  conversation_id, field, reason, detail, raw_line
           FROM refused JOIN files f USING (file_no) ORDER BY seq""",
    )


def quarantine_table(day: date, stage: str, rows: list[tuple[ContractError, str]]) -> pa.Table:
    """Quarantine rows of one stage, shaped like `raw.quarantine`."""
    return pa.Table.from_pylist(
        [
            {
                "partition_date": day,
                "stage": stage,
                "source_file": err.source_file,
                "source_line": err.source_line,
                "conversation_id": err.conversation_id,
                "field": err.field,
                "reason": err.reason,
                "detail": err.detail,
                "raw_line": raw,
            }
            for err, raw in rows
        ],
        schema=arrow_schema("raw.quarantine"),
    )
