"""``manage.py import_events FILE --business BUS``: load usage events in bulk from NDJSON or CSV.

Each row goes through the rules of ``POST /api/events/ingest`` (the msgspec ``EventIn`` decoder, the
business's time window, the customer check, ``event_id`` as the idempotency key), but a bad row is
counted and reported instead of stopping the import. The file is streamed: at most one batch is
held in memory, and each batch is stored by ``events_insert`` in its own transaction. See
docs/import_events.md.
"""

import csv
import io
import os
import re
import stat
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import msgspec
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from customers.models import Customer
from dodo_billing.errors import InvalidRequestBody
from dodo_billing.models import Business
from dodo_billing.validation import METADATA_MAX_KEY_LENGTH
from metering.ingestion import MAX_EVENTS_PER_REQUEST, EventIn, EventWindow, decode_event, event_timestamp
from metering.services import events_insert

FORMATS = {".ndjson": "ndjson", ".jsonl": "ndjson", ".json": "ndjson", ".csv": "csv"}
MAX_LINE_BYTES = 1 << 20  # an NDJSON line longer than this is rejected without being held in memory
LINES_SHOWN = 5  # line numbers listed per rejection reason
MAX_REASONS = 50  # distinct reasons kept; further ones are counted together
REQUIRED_COLUMNS = ("event_id", "customer_id", "event_name")
OPTIONAL_COLUMNS = ("timestamp", "metadata")
METADATA_PREFIX = "metadata."
# A CSV cell is a number when it is a JSON number: no leading zeros ("007" stays a string), no "+".
JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
BOM = b"\xef\xbb\xbf"


class RowRejected(Exception):
    """One row that cannot be imported: ``reason`` groups rows in the summary, ``detail`` is this row's."""

    def __init__(self, reason: str, detail: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail or reason


@dataclass
class ReasonTally:
    count: int = 0
    lines: list[int] = field(default_factory=list)
    example: str = ""


@dataclass
class Tally:
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    reasons: dict[str, ReasonTally] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return self.accepted + self.duplicate + self.rejected

    def reject(self, line: int, rejection: RowRejected) -> None:
        self.rejected += 1
        reason = rejection.reason
        if reason not in self.reasons and len(self.reasons) >= MAX_REASONS:
            reason = "other reasons"
        entry = self.reasons.setdefault(reason, ReasonTally())
        entry.count += 1
        if len(entry.lines) < LINES_SHOWN:
            entry.lines.append(line)
        if not entry.example and rejection.detail != rejection.reason:
            entry.example = f"line {line}: {rejection.detail}"[:300]


class Batch:
    """Rows that passed the per-row checks, stored together once ``size`` of them are waiting.

    A batch has one ``now`` (set by its first row): the window it checks timestamps against, the
    timestamp of events that have none, and their ``ingested_at`` — as one API request would.
    """

    def __init__(self, *, business, size: int, tally: Tally, on_flush=None):
        self.business = business
        self.size = size
        self.tally = tally
        self.on_flush = on_flush
        self.rows: list[tuple[int, EventIn, datetime]] = []
        self.window: EventWindow | None = None

    def add(self, line: int, event: EventIn) -> None:
        if self.window is None:
            self.window = EventWindow.for_business(self.business, timezone.now())
        timestamp = event_timestamp(event, self.window)
        problem = self.window.problem(timestamp)
        if problem:
            # The message starts with the timestamp; without it, rows group by the kind of problem.
            kind = problem.removeprefix(timestamp.isoformat()).strip().removeprefix("is ")
            raise RowRejected(f"timestamp: {kind}", problem)
        self.rows.append((line, event, timestamp))
        if len(self.rows) >= self.size:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        wanted = {event.customer_id for _, event, _ in self.rows}
        known = set(
            Customer.objects.filter(business=self.business, id__in=wanted).values_list("id", flat=True)
        )
        events, timestamps, seen = [], [], set()
        for line, event, timestamp in self.rows:
            if event.customer_id not in known:
                self.tally.reject(
                    line,
                    RowRejected(
                        "customer_id: no such customer in this business",
                        f"no customer {event.customer_id!r} in this business.",
                    ),
                )
            elif event.event_id in seen:  # repeated in this batch: the first one is stored
                self.tally.duplicate += 1
            else:
                seen.add(event.event_id)
                events.append(event)
                timestamps.append(timestamp)
        stored = events_insert(
            business=self.business, events=events, timestamps=timestamps, ingested_at=self.window.now
        )
        self.tally.accepted += stored
        self.tally.duplicate += len(events) - stored  # stored already (earlier import, API, batch)
        self.rows = []
        self.window = None
        if self.on_flush:
            self.on_flush()


class CountingReader(io.RawIOBase):
    """A raw stream over ``source`` that reports every byte read to the progress bar."""

    def __init__(self, source, progress):
        super().__init__()
        self._readinto = getattr(source, "readinto1", None) or source.readinto
        self._progress = progress

    def readable(self):
        return True

    def readinto(self, buffer):
        count = self._readinto(buffer)
        if count:
            self._progress.update(count)
        return count


def decode(data: bytes) -> EventIn | RowRejected:
    """The row as an event, or why ``decode_event`` (the API's decoder) refused it."""
    try:
        return decode_event(data)
    except InvalidRequestBody as exc:
        if exc.message.startswith("Malformed JSON"):
            if "utf-8" in exc.message:
                return RowRejected("not valid UTF-8")
            return RowRejected("malformed JSON", exc.message.removeprefix("Malformed JSON: "))
        # "field: problem" from the decoder: the same text for every row with the same fault.
        return RowRejected(exc.message)


def read_lines(stream):
    """``(line number, bytes)`` for each line; ``None`` for a line longer than MAX_LINE_BYTES."""
    number = 0
    while line := stream.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            while (rest := stream.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass
            yield number, None
        else:
            yield number, line


def ndjson_rows(stream):
    """``(line number, EventIn or RowRejected)`` for each non-blank line."""
    for number, line in read_lines(stream):
        if line is None:
            yield number, RowRejected(f"line longer than {MAX_LINE_BYTES:,} bytes")
            continue
        if number == 1:
            line = line.removeprefix(BOM)
        if line.strip():
            yield number, decode(line)


@dataclass
class CsvLayout:
    """Where each field is in a CSV row, from the header."""

    width: int
    index: dict[str, int]
    metadata_columns: list[tuple[str, int]]  # (key, index) of each metadata.<key> column

    @classmethod
    def from_header(cls, header: list[str]) -> "CsvLayout":
        names = [name.strip() for name in header]
        index, metadata_columns, problems = {}, [], []
        for position, name in enumerate(names):
            if name in names[:position]:
                if names[:position].count(name) == 1:  # name each repeated column once
                    problems.append(f"column {name!r} appears more than once")
            elif name.startswith(METADATA_PREFIX):
                key = name.removeprefix(METADATA_PREFIX)
                if not 1 <= len(key) <= METADATA_MAX_KEY_LENGTH:
                    problems.append(
                        f"column {name!r}: a metadata key has 1 to {METADATA_MAX_KEY_LENGTH} characters"
                    )
                else:
                    metadata_columns.append((key, position))
            elif name in REQUIRED_COLUMNS or name in OPTIONAL_COLUMNS:
                index[name] = position
            else:
                problems.append(
                    f"unknown column {name!r} (expected {', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)}, "
                    "metadata.<key>)"
                )
        missing = [name for name in REQUIRED_COLUMNS if name not in index]
        if missing:
            problems.append(f"missing column(s) {', '.join(missing)}")
        if problems:
            raise CommandError(f"Bad CSV header: {'; '.join(problems)}.", returncode=2)
        return cls(width=len(names), index=index, metadata_columns=metadata_columns)

    def event(self, row: list[str]) -> EventIn | RowRejected:
        if len(row) > self.width:
            return RowRejected(
                "more cells than the header has columns", f"{len(row)} cells, {self.width} columns."
            )
        row = row + [""] * (self.width - len(row))
        try:
            "".join(row).encode()
        except UnicodeEncodeError:  # undecodable bytes, kept as surrogates by the reader
            return RowRejected("not valid UTF-8")
        data = {name: row[self.index[name]] for name in REQUIRED_COLUMNS}
        if "timestamp" in self.index and row[self.index["timestamp"]]:
            data["timestamp"] = row[self.index["timestamp"]]
        as_json = row[self.index["metadata"]] if "metadata" in self.index else ""
        as_cells = {
            key: cell_value(row[position]) for key, position in self.metadata_columns if row[position]
        }
        if as_json and as_cells:
            return RowRejected(
                "metadata: both the metadata column and metadata.<key> cells are filled",
                f"the metadata column and {', '.join(METADATA_PREFIX + key for key in as_cells)}.",
            )
        if as_json:
            try:
                data["metadata"] = msgspec.json.decode(as_json)
            except msgspec.DecodeError as exc:
                return RowRejected("metadata: the metadata column is not valid JSON", str(exc))
        elif as_cells:
            data["metadata"] = as_cells
        # Through the API's own JSON decoder, so every field follows exactly the API's rules.
        return decode(msgspec.json.encode(data))


def cell_value(text: str) -> int | float | bool | str:
    """A metadata.<key> cell: a JSON number, else true/false, else the text itself."""
    if JSON_NUMBER.fullmatch(text):
        try:
            return msgspec.json.decode(text)
        except msgspec.DecodeError:  # beyond 64 bits or float range: kept as text
            return text
    if text in ("true", "false"):
        return text == "true"
    return text


def csv_rows(stream):
    """``(line number, EventIn or RowRejected)`` for each non-blank row after the header.

    The line number is the record's first line (a quoted cell may span lines).
    """
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = csv.reader(text)
    layout = None
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            if layout is None:
                raise CommandError(f"Unreadable CSV header: {exc}.", returncode=2) from exc
            yield start, RowRejected("unreadable CSV row", str(exc))
            continue
        if not row or (len(row) == 1 and not row[0]):
            continue
        if layout is None:
            layout = CsvLayout.from_header(row)
        else:
            yield start, layout.event(row)
    if layout is None:
        raise CommandError("The CSV file is empty: it needs a header row.", returncode=2)


class Command(BaseCommand):
    help = (
        "Import usage events from an NDJSON or CSV file (or - for standard input) into one business, "
        "with the ingest API's validation and event_id deduplication. Bad rows are reported by line "
        "and skipped; the others are stored. Exit status: 0 all rows imported or duplicates, 1 some "
        "rows rejected, 2 bad invocation. See docs/import_events.md."
    )
    stealth_options = ("stdin",)  # tests pass their own standard input

    def add_arguments(self, parser):
        parser.add_argument("file", help="NDJSON or CSV file; - reads standard input (needs --format).")
        parser.add_argument("--business", required=True, help="Business id (bus_…) or exact name.")
        parser.add_argument(
            "--format",
            help="ndjson or csv. Default: from the extension (.ndjson, .jsonl, .json → ndjson; .csv → csv).",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=MAX_EVENTS_PER_REQUEST,
            help=f"Events per insert transaction, 1 to {MAX_EVENTS_PER_REQUEST} (default: the maximum).",
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar on standard error.")

    def handle(self, *args, **options):
        business = self.get_business(options["business"])
        batch_size = options["batch_size"]
        if not 1 <= batch_size <= MAX_EVENTS_PER_REQUEST:
            raise CommandError(f"--batch-size must be 1 to {MAX_EVENTS_PER_REQUEST}.", returncode=2)
        path = options["file"]
        file_format = self.get_format(path, options["format"])
        if path == "-":
            stdin = options.get("stdin") or sys.stdin
            source, name, close = getattr(stdin, "buffer", stdin), "standard input", False
        else:
            try:
                source = open(path, "rb", buffering=0)  # noqa: SIM115 (closed below)
            except OSError as exc:
                raise CommandError(f"Cannot read {path}: {exc.strerror}.", returncode=2) from exc
            name, close = path, True

        tally = Tally()
        progress = tqdm(
            total=self.size_of(source),
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=Path(name).name if close else name,
            file=getattr(self.stderr, "_out", self.stderr),  # the raw stream: tqdm redraws with \r
            disable=options["no_progress"] or not self.stderr.isatty(),
        )
        batch = Batch(
            business=business,
            size=batch_size,
            tally=tally,
            on_flush=lambda: progress.set_postfix(
                accepted=tally.accepted, duplicate=tally.duplicate, rejected=tally.rejected, refresh=False
            ),
        )
        try:
            stream = io.BufferedReader(CountingReader(source, progress), buffer_size=1 << 16)
            rows = ndjson_rows(stream) if file_format == "ndjson" else csv_rows(stream)
            for line, item in rows:
                if isinstance(item, RowRejected):
                    tally.reject(line, item)
                    continue
                try:
                    batch.add(line, item)
                except RowRejected as rejection:
                    tally.reject(line, rejection)
            batch.flush()
        finally:
            progress.close()
            if close:
                source.close()

        self.write_summary(tally, name, business)
        if tally.rejected:
            raise CommandError(
                f"{tally.rejected:,} row(s) rejected (see above); the other rows were imported.", returncode=1
            )

    def get_business(self, value: str) -> Business:
        business = Business.objects.filter(id=value).first() or Business.objects.filter(name=value).first()
        if business is None:
            raise CommandError(f"No business {value!r} (give its id bus_… or exact name).", returncode=2)
        return business

    def get_format(self, path: str, given: str | None) -> str:
        if given:
            if given not in ("ndjson", "csv"):
                raise CommandError(f"Unknown format {given!r}: use ndjson or csv.", returncode=2)
            return given
        if path == "-":
            raise CommandError("Reading standard input needs --format ndjson or --format csv.", returncode=2)
        suffix = Path(path).suffix.lower()
        if suffix not in FORMATS:
            raise CommandError(
                f"Cannot tell the format of {path} from its extension: pass --format ndjson or --format csv.",
                returncode=2,
            )
        return FORMATS[suffix]

    @staticmethod
    def size_of(source) -> int | None:
        """The byte count of a regular file (also as redirected standard input), else None."""
        try:
            info = os.fstat(source.fileno())
        except (OSError, ValueError, AttributeError):
            return None
        return info.st_size if stat.S_ISREG(info.st_mode) else None

    def write_summary(self, tally: Tally, name: str, business: Business) -> None:
        write = self.stdout.write
        write(f"Imported {name} into {business.name} ({business.id}): {tally.rows:,} rows.")
        width = len(f"{max(tally.accepted, tally.duplicate, tally.rejected):,}")
        write(f"  accepted   {tally.accepted:>{width},}  newly stored")
        write(f"  duplicate  {tally.duplicate:>{width},}  already stored, or repeated in the file")
        write(f"  rejected   {tally.rejected:>{width},}")
        if not tally.reasons:
            return
        write("Rejected rows by reason:")
        for reason, entry in sorted(tally.reasons.items(), key=lambda item: (-item[1].count, item[1].lines)):
            lines = ", ".join(str(line) for line in entry.lines) + (
                ", …" if entry.count > len(entry.lines) else ""
            )
            word = "line" if entry.count == 1 else "lines"
            write(f"  {entry.count:,} × {reason} ({word} {lines})")
            if entry.example:
                write(f"      e.g. {entry.example}")
