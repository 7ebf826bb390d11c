"""``manage.py import_events``: the ingest API's rules, row by row, over streamed NDJSON and CSV files."""

import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import timezone as dt_timezone
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from metering.ingestion import decode_event
from metering.management.commands import import_events as command_module
from metering.models import Event
from metering.services import events_ingest

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    code: int
    out: str
    err: str
    message: str = ""


def run(*args, stdin=None, stderr=None, **options) -> Run:
    """Call the command; ``code`` is the exit status ``manage.py`` would have."""
    out, err = io.StringIO(), stderr or io.StringIO()
    if stdin is not None:
        options["stdin"] = stdin
    try:
        call_command("import_events", *[str(arg) for arg in args], stdout=out, stderr=err, **options)
    except CommandError as exc:
        return Run(exc.returncode, out.getvalue(), err.getvalue(), str(exc))
    return Run(0, out.getvalue(), err.getvalue())


@pytest.fixture
def backfill(business):
    """The business accepts timestamps up to 400 days old (as an operator would set in admin)."""
    business.event_window_past_seconds = 400 * 86400
    business.save()
    return business


@pytest.fixture
def jane(make_customer):
    return make_customer(name="Jane", email="jane@example.com")


@pytest.fixture
def bob(make_customer):
    return make_customer(name="Bob", email="bob@example.com")


@pytest.fixture
def day():
    """A whole second ten days ago, in UTC."""
    return (timezone.now() - timedelta(days=10)).astimezone(UTC).replace(microsecond=0)


def write_ndjson(path: Path, rows) -> Path:
    """One line per row: a dict is JSON-encoded, a string is written as it is."""
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


def write_csv(path: Path, text: str) -> Path:
    path.write_bytes(text.encode())
    return path


def event(event_id, customer, name="api.call", **fields):
    return {"event_id": event_id, "customer_id": customer.id, "event_name": name, **fields}


def stored(business) -> dict[str, Event]:
    return {e.event_id: e for e in Event.objects.filter(business_id=business.id)}


def summary_counts(output: str) -> dict[str, int]:
    counts = {}
    for line in output.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] in ("accepted", "duplicate", "rejected"):
            counts[words[0]] = int(words[1].replace(",", ""))
    return counts


# --- happy paths ---------------------------------------------------------------------------------


def test_ndjson_rows_are_stored_with_utc_timestamps_and_metadata(backfill, jane, bob, day, tmp_path):
    path = write_ndjson(
        tmp_path / "events.ndjson",
        [
            event("e1", jane, timestamp=day.isoformat().replace("+00:00", "Z"), metadata={"tokens": 150}),
            event("e2", bob, "llm.completion", timestamp=(day + timedelta(hours=2)).isoformat(), metadata={}),
            event("e3", jane, timestamp=_offset(day, 2)),
            event(
                "e4", jane, timestamp=day.replace(tzinfo=None).isoformat(), metadata={"ok": True, "r": 1.5}
            ),
            event("e5", bob, metadata={"model": "gpt-4", "ok": False}),
        ],
    )
    before = timezone.now()
    result = run(path, "--business", backfill.name)
    after = timezone.now()

    assert result.code == 0, result
    assert summary_counts(result.out) == {"accepted": 5, "duplicate": 0, "rejected": 0}
    assert result.err == ""  # stderr is not a TTY: no progress bar
    events = stored(backfill)
    assert sorted(events) == ["e1", "e2", "e3", "e4", "e5"]
    assert events["e1"].timestamp == day and events["e1"].metadata == {"tokens": 150}
    assert events["e1"].customer_id == jane.id and events["e1"].event_name == "api.call"
    assert events["e2"].timestamp == day + timedelta(hours=2) and events["e2"].event_name == "llm.completion"
    assert events["e3"].timestamp == day  # written at +02:00, stored in UTC
    assert events["e4"].timestamp == day  # a naive timestamp is UTC
    assert events["e4"].metadata == {"ok": True, "r": 1.5}
    assert before <= events["e5"].timestamp <= after  # no timestamp: the time of import
    assert events["e5"].timestamp == events["e5"].ingested_at
    assert events["e5"].metadata == {"model": "gpt-4", "ok": False}


def _offset(moment: datetime, hours: int) -> str:
    """The same instant written in a zone ``hours`` ahead of UTC ("…T14:00:00+02:00")."""
    return moment.astimezone(dt_timezone(timedelta(hours=hours))).isoformat()


def test_business_may_be_given_by_id(business, jane, tmp_path):
    path = write_ndjson(tmp_path / "events.jsonl", [event("e1", jane)])
    result = run(path, "--business", business.id)
    assert result.code == 0, result
    assert f"into {business.name} ({business.id})" in result.out
    assert list(stored(business)) == ["e1"]


def test_csv_metadata_cells_are_typed_number_then_boolean_then_string(business, jane, tmp_path):
    path = write_csv(
        tmp_path / "events.csv",
        "event_id,customer_id,event_name,metadata.tokens,metadata.ratio,metadata.big,metadata.neg,"
        "metadata.stream,metadata.cached,metadata.model,metadata.zip,metadata.upper,metadata.spaced\n"
        f"c1,{jane.id},llm,150,1.5,1e3,-3,true,false,gpt-4,007,TRUE, 5\n"
        f"c2,{jane.id},llm,0,,,,,,,,,\n"
        f"c3,{jane.id},llm,,,,,,,,,,\n"
        f'c4,{jane.id},llm,,,,,,,"a, ""quoted""\nvalue",,,\n',
    )
    result = run(path, "--business", business.name)

    assert result.code == 0, result
    events = stored(business)
    assert events["c1"].metadata == {
        "tokens": 150,
        "ratio": 1.5,
        "big": 1000.0,
        "neg": -3,
        "stream": True,
        "cached": False,
        "model": "gpt-4",
        "zip": "007",  # not a JSON number: leading zero
        "upper": "TRUE",  # only true/false are booleans
        "spaced": " 5",  # cells are verbatim
    }
    c1 = events["c1"].metadata
    assert type(c1["tokens"]) is int and type(c1["ratio"]) is float and type(c1["stream"]) is bool
    assert events["c2"].metadata == {"tokens": 0}  # empty cells: keys absent
    assert events["c3"].metadata is None  # every cell empty: no metadata at all
    assert events["c4"].metadata == {"model": 'a, "quoted"\nvalue'}


def test_csv_metadata_json_column_and_timestamps(business, jane, bob, tmp_path):
    now = timezone.now().astimezone(UTC).replace(microsecond=0)
    earlier = now - timedelta(minutes=20)
    zulu = earlier.isoformat().replace("+00:00", "Z")
    path = write_csv(
        tmp_path / "events.CSV",
        "\ufeffevent_id,customer_id,event_name,timestamp,metadata\n"  # a BOM, as Excel writes
        f'j1,{jane.id},api.call,{zulu},"{{""tokens"": 7, ""m"": ""x""}}"\n'
        f'j2,{bob.id},api.call,{_offset(earlier, -5)},"{{""ok"": true, ""r"": 2.5}}"\n'
        f"j3,{jane.id},api.call,,null\n"
        f"j4,{jane.id},api.call,,\n",
    )
    before = timezone.now()
    result = run(path, "--business", business.name)

    assert result.code == 0, result
    assert summary_counts(result.out) == {"accepted": 4, "duplicate": 0, "rejected": 0}
    events = stored(business)
    assert events["j1"].timestamp == earlier and events["j1"].metadata == {"tokens": 7, "m": "x"}
    assert events["j2"].timestamp == earlier and events["j2"].customer_id == bob.id
    assert events["j2"].metadata == {"ok": True, "r": 2.5}
    assert events["j3"].metadata is None and events["j4"].metadata is None
    assert before <= events["j3"].timestamp == events["j3"].ingested_at <= timezone.now()


def test_ndjson_blank_lines_are_skipped_and_still_counted_in_line_numbers(business, jane, tmp_path):
    path = write_ndjson(tmp_path / "events.ndjson", ["", event("e1", jane), "   ", "", "{not json", ""])
    result = run(path, "--business", business.name)
    assert summary_counts(result.out) == {"accepted": 1, "duplicate": 0, "rejected": 1}
    assert "1 × malformed JSON (line 5)" in result.out


# --- duplicates ----------------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [1000, 1])
def test_duplicates_already_stored_or_repeated_in_the_file(business, jane, bob, tmp_path, batch_size):
    events_ingest(business=business, events=[decode_event(event("old", jane, "original"))])
    original = Event.objects.get(event_id="old")
    path = write_ndjson(
        tmp_path / "events.ndjson",
        [
            event("old", bob, "changed"),
            event("twice", jane, "first"),
            event("new", jane),
            event("twice", bob, "second"),
            event("twice", bob, "third"),
        ],
    )
    result = run(path, "--business", business.name, "--batch-size", batch_size)

    assert result.code == 0, result
    assert summary_counts(result.out) == {"accepted": 2, "duplicate": 3, "rejected": 0}
    events = stored(business)
    assert sorted(events) == ["new", "old", "twice"]
    assert events["twice"].event_name == "first" and events["twice"].customer_id == jane.id  # first wins
    assert (events["old"].event_name, events["old"].customer_id) == ("original", jane.id)  # untouched
    assert events["old"].ingested_at == original.ingested_at


def test_same_event_id_in_another_business_is_not_a_duplicate(
    business, other_business, jane, make_customer, tmp_path
):
    theirs = make_customer(business=other_business)
    events_ingest(business=other_business, events=[decode_event(event("shared", theirs))])
    path = write_ndjson(tmp_path / "events.ndjson", [event("shared", jane)])
    result = run(path, "--business", business.name)
    assert summary_counts(result.out) == {"accepted": 1, "duplicate": 0, "rejected": 0}
    assert Event.objects.filter(event_id="shared").count() == 2


def test_running_the_same_file_again_imports_nothing(business, jane, bob, tmp_path):
    path = write_ndjson(
        tmp_path / "events.ndjson", [event(f"e{i}", jane if i % 2 else bob) for i in range(7)]
    )
    first = run(path, "--business", business.name)
    before = sorted(Event.objects.values_list("event_id", "ingested_at"))
    again = run(path, "--business", business.name)

    assert first.code == again.code == 0
    assert summary_counts(first.out) == {"accepted": 7, "duplicate": 0, "rejected": 0}
    assert summary_counts(again.out) == {"accepted": 0, "duplicate": 7, "rejected": 0}
    assert sorted(Event.objects.values_list("event_id", "ingested_at")) == before


def test_a_rejected_first_occurrence_does_not_make_a_later_valid_one_a_duplicate(business, jane, tmp_path):
    path = write_ndjson(
        tmp_path / "events.ndjson",
        [{"event_id": "e1", "customer_id": "cus_unknown", "event_name": "x"}, event("e1", jane, "kept")],
    )
    result = run(path, "--business", business.name)
    assert summary_counts(result.out) == {"accepted": 1, "duplicate": 0, "rejected": 1}
    assert stored(business)["e1"].event_name == "kept"


# --- rejected rows -------------------------------------------------------------------------------


def test_bad_ndjson_rows_are_reported_by_line_and_the_good_ones_stored(
    business, other_business, jane, make_customer, tmp_path
):
    theirs = make_customer(business=other_business)
    now = timezone.now()
    path = write_ndjson(
        tmp_path / "events.ndjson",
        [
            event("ok1", jane),  # 1
            '{"event_id": "broken", ',  # 2
            {"event_id": "nofield", "customer_id": jane.id},  # 3
            event("nested", jane, metadata={"a": {"b": 1}}),  # 4
            {"event_id": "ghost", "customer_id": "cus_doesnotexist", "event_name": "x"},  # 5
            event("ok2", jane, timestamp=(now - timedelta(minutes=30)).isoformat()),  # 6
            event("foreign", theirs),  # 7
            event("old", jane, timestamp=(now - timedelta(days=2)).isoformat()),  # 8
            event("older", jane, timestamp=(now - timedelta(days=3)).isoformat()),  # 9
            event("future", jane, timestamp=(now + timedelta(hours=1)).isoformat()),  # 10
            event("", jane),  # 11
            event("badtype", jane, metadata=["x"]),  # 12
            "[1, 2]",  # 13
            event("ok3", jane, metadata={"n": 1}),  # 14
        ],
    )
    result = run(path, "--business", business.name)

    assert result.code == 1
    assert "11 row(s) rejected" in result.message and "the other rows were imported" in result.message
    assert summary_counts(result.out) == {"accepted": 3, "duplicate": 0, "rejected": 11}
    assert sorted(stored(business)) == ["ok1", "ok2", "ok3"]
    out = result.out
    assert "1 × malformed JSON (line 2)" in out
    assert "1 × event_name: Object missing required field `event_name` (line 3)" in out
    assert "1 × metadata value: Expected `bool | int | float | str`, got `object` (line 4)" in out
    assert "2 × customer_id: no such customer in this business (lines 5, 7)" in out
    assert "e.g. line 5: no customer 'cus_doesnotexist' in this business." in out
    assert "2 × timestamp: more than 1 hour in the past; widen the business's event window" in out
    assert "(lines 8, 9)" in out
    assert "1 × timestamp: more than 5 minutes in the future. (line 10)" in out
    assert "1 × event_id: Expected `str` of length >= 1 (line 11)" in out
    assert "1 × metadata: Expected `object | null`, got `array` (line 12)" in out
    assert "1 × event: Expected `object`, got `array` (line 13)" in out


def test_bad_csv_rows_are_reported_by_line_and_the_good_ones_stored(business, jane, tmp_path):
    path = write_csv(
        tmp_path / "events.csv",
        "event_id,customer_id,event_name,timestamp,metadata,metadata.tokens\n"  # 1
        f'ok1,{jane.id},api.call,,"{{""note"": ""a, b"",\n""n"": 1}}",\n'  # 2-3: JSON over two lines
        f"badts,{jane.id},api.call,yesterday,,\n"  # 4
        f"datets,{jane.id},api.call,2024-01-01,,\n"  # 5
        f'both,{jane.id},api.call,,"{{""a"": 1}}",5\n'  # 6
        f"badjson,{jane.id},api.call,,{{oops,\n"  # 7
        f"wide,{jane.id},api.call,,,,extra\n"  # 8
        "ghost,cus_nobody,api.call,,,\n"  # 9
        "\n"  # 10
        f"ok2,{jane.id},api.call,,,12\n",  # 11
    )
    result = run(path, "--business", business.name)

    assert result.code == 1
    assert summary_counts(result.out) == {"accepted": 2, "duplicate": 0, "rejected": 6}
    events = stored(business)
    assert sorted(events) == ["ok1", "ok2"]
    assert events["ok1"].metadata == {"note": "a, b", "n": 1} and events["ok2"].metadata == {"tokens": 12}
    out = result.out
    assert "2 × timestamp: Invalid RFC3339 encoded datetime (lines 4, 5)" in out
    assert "1 × metadata: both the metadata column and metadata.<key> cells are filled (line 6)" in out
    assert "1 × metadata: the metadata column is not valid JSON (line 7)" in out
    assert "1 × more cells than the header has columns (line 8)" in out
    assert "1 × customer_id: no such customer in this business (line 9)" in out


def test_bad_bytes_and_overlong_lines_are_rejected_rows(business, jane, tmp_path, monkeypatch):
    monkeypatch.setattr(command_module, "MAX_LINE_BYTES", 200)
    path = tmp_path / "events.ndjson"
    path.write_bytes(
        json.dumps(event("long", jane, metadata={"x": "y" * 300})).encode()
        + b"\n"
        + json.dumps(event("ok", jane)).encode()
        + b"\n"
        + b'{"event_id": "\xff"}\n'
    )
    csv_path = tmp_path / "events.csv"
    csv_path.write_bytes(
        f"event_id,customer_id,event_name\nlatin1,{jane.id},caf\xe9\nok-csv,{jane.id},x\n".encode("latin-1")
    )

    result = run(path, "--business", business.name)
    assert summary_counts(result.out) == {"accepted": 1, "duplicate": 0, "rejected": 2}
    assert "1 × line longer than 200 bytes (line 1)" in result.out
    assert "1 × not valid UTF-8 (line 3)" in result.out
    result = run(csv_path, "--business", business.name)
    assert summary_counts(result.out) == {"accepted": 1, "duplicate": 0, "rejected": 1}
    assert "1 × not valid UTF-8 (line 2)" in result.out
    assert sorted(stored(business)) == ["ok", "ok-csv"]


# --- invocation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("events.ndjson", ["--business", "No Such Business"], "No business 'No Such Business'"),
        ("events.ndjson", ["--business", "bus_doesnotexist"], "No business 'bus_doesnotexist'"),
        ("missing.ndjson", ["--business", "Acme Compute"], "Cannot read"),
        ("events.ndjson", ["--business", "Acme Compute", "--format", "xml"], "Unknown format 'xml'"),
        ("events.txt", ["--business", "Acme Compute"], "pass --format"),
        ("-", ["--business", "Acme Compute"], "needs --format"),
        (
            "events.ndjson",
            ["--business", "Acme Compute", "--batch-size", "0"],
            "--batch-size must be 1 to 1000",
        ),
        ("events.ndjson", ["--business", "Acme Compute", "--batch-size", "1001"], "--batch-size"),
        ("header.csv", ["--business", "Acme Compute"], "Bad CSV header: unknown column 'event'"),
        ("empty.csv", ["--business", "Acme Compute"], "needs a header row"),
    ],
)
def test_bad_invocations_exit_2_and_write_nothing(business, jane, tmp_path, name, args, message):
    for file_name in ("events.ndjson", "events.txt"):
        write_ndjson(tmp_path / file_name, [event("e1", jane)])
    write_csv(tmp_path / "header.csv", f"event,customer_id,event_name\ne1,{jane.id},x\n")
    write_csv(tmp_path / "empty.csv", "\n\n")
    target = name if name == "-" else tmp_path / name
    result = run(target, *args, stdin=io.BytesIO(b""))
    assert result.code == 2, result
    assert message in result.message
    assert result.out == ""
    assert not Event.objects.exists()


def test_a_directory_is_not_a_file(business, tmp_path):
    result = run(tmp_path, "--business", business.name, "--format", "csv")
    assert result.code == 2 and "Cannot read" in result.message


# --- standard input ------------------------------------------------------------------------------


def test_standard_input_ndjson(business, jane, tmp_path, monkeypatch):
    data = "\n".join(json.dumps(event(f"s{i}", jane)) for i in range(3)).encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))  # what manage.py reads
    result = run("-", "--business", business.name, "--format", "ndjson")
    assert result.code == 0, result
    assert "Imported standard input into Acme Compute" in result.out
    assert sorted(stored(business)) == ["s0", "s1", "s2"]


def test_standard_input_csv_with_a_rejected_row(business, jane):
    data = f"event_id,customer_id,event_name,metadata.n\nc1,{jane.id},x,1\nc2,cus_nope,x,2\n".encode()
    result = run("-", "--business", business.name, "--format", "csv", stdin=io.BytesIO(data))
    assert result.code == 1
    assert "1 × customer_id: no such customer in this business (line 3)" in result.out
    assert stored(business)["c1"].metadata == {"n": 1}


# --- volume and batches --------------------------------------------------------------------------


def test_thousands_of_rows_go_in_batches_of_batch_size(business, make_customer, tmp_path, monkeypatch):
    customers = [make_customer() for _ in range(5)]
    rows = [event(f"evt-{i:05}", customers[i % 5], metadata={"i": i}) for i in range(2500)]
    rows += [event(f"evt-{i:05}", customers[0], "again") for i in range(500)]  # repeats of batch 1
    path = write_ndjson(tmp_path / "events.ndjson", rows)
    sizes = []
    real_insert = command_module.events_insert

    def spy(**kwargs):
        sizes.append(len(kwargs["events"]))
        return real_insert(**kwargs)

    monkeypatch.setattr(command_module, "events_insert", spy)
    result = run(path, "--business", business.name, "--batch-size", 1000)

    assert result.code == 0, result
    assert sizes == [1000, 1000, 1000]  # one insert (one transaction) per batch, never more rows
    assert summary_counts(result.out) == {"accepted": 2500, "duplicate": 500, "rejected": 0}
    assert Event.objects.filter(business_id=business.id).count() == 2500
    assert not Event.objects.filter(event_name="again").exists()
    assert Event.objects.get(event_id="evt-01234").metadata == {"i": 1234}

    sizes.clear()
    csv_path = tmp_path / "events.csv"
    with csv_path.open("w") as out:
        out.write("event_id,customer_id,event_name,metadata.i\n")
        out.writelines(f"csv-{i},{customers[i % 5].id},x,{i}\n" for i in range(2100))
    result = run(csv_path, "--business", business.name, "--batch-size", 700)
    assert sizes == [700, 700, 700]
    assert summary_counts(result.out) == {"accepted": 2100, "duplicate": 0, "rejected": 0}


# --- progress bar --------------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal_unless_no_progress(business, jane, tmp_path):
    path = write_ndjson(tmp_path / "events.ndjson", [event(f"e{i}", jane) for i in range(50)])
    shown = run(path, "--business", business.name, stderr=Terminal())
    assert "events.ndjson: 100%" in shown.err and "B/s" in shown.err  # the total is the file size
    assert "accepted=50" in shown.err

    hidden = run(path, "--business", business.name, "--no-progress", stderr=Terminal())
    assert hidden.err == ""


# --- exit status of the real process -------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_exit_status_of_manage_py(business, jane, tmp_path):
    from django.conf import settings

    db = settings.DATABASES["default"]
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    url = f"postgres://{db['USER']}:{db['PASSWORD']}@{host}/{db['NAME']}"  # the test database
    env = {**os.environ, "DATABASE_URL": url}

    def manage(*args, stdin=b""):
        return subprocess.run(
            [sys.executable, "manage.py", "import_events", *args],
            cwd=ROOT,
            env=env,
            input=stdin,
            capture_output=True,
            timeout=120,
        )

    good = json.dumps(event("p1", jane)).encode()
    bad = b'{"event_id": "p2"}'
    done = manage("-", "--business", business.id, "--format", "ndjson", stdin=good + b"\n" + bad + b"\n")
    assert done.returncode == 1, done
    assert b"accepted   1" in done.stdout and b"rejected   1" in done.stdout
    assert b"the other rows were imported" in done.stderr
    assert list(stored(business)) == ["p1"]

    done = manage("-", "--business", business.id, "--format", "ndjson", stdin=good)
    assert done.returncode == 0 and b"duplicate  1" in done.stdout

    for args in (["-", "--business", "Nobody", "--format", "ndjson"], ["-", "--format", "ndjson"]):
        done = manage(*args, stdin=good)
        assert done.returncode == 2, done
    assert list(stored(business)) == ["p1"]
