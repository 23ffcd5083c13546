"""DynamoDB for log batches: the runs' progress (LogBatchesTable; the lines themselves are records.py's).

Counting has to be exact under duplicates, redelivery, races and DLQ redrive,
and it is on every line's path, so it is built to cost a small fraction of a
write per line. The splitter numbers its messages (`seq`) and groups them into
chunks of about 100 lines. LogBatchesTable holds, for a run
(`<source key>@<ETag>`):

- `pk=<run>, sk=RUN`: status, split checkpoint and lease, totals, counters,
  report state (the shared `RunRepository` mechanism, plus what is below);
- `pk=<run>#C<chunk>, sk=C`: a chunk's tally. A worker batch adds its
  messages' slots (a number set) and counts with one conditional UpdateItem
  per chunk (`NOT contains(slots, :slot)`): a message already counted fails
  the condition and is counted nowhere. Each chunk is its own partition, so
  the workers of one large file spread their writes instead of queueing on
  one item;
- `pk=<run>, sk=S#<section>`: a section of 100 chunks. A complete chunk is
  rolled into its section once (`NOT contains(rolled, :chunk)`), and a
  complete section into the RUN item once, so the RUN item takes one update
  per 10,000 lines and each tally item stays under 1 KB (1 write unit);
- `pk=<run>, sk=P#<chunk>`: the chunk's problem lines (FATAL, ERROR, WARN
  and 5xx line numbers), written only for chunks that have some, when the
  chunk rolls up: what `GET /log-batches/lines` reads, so only those lines
  pay for it;
- `pk=LATEST#<source key>`: the key's newest run.

Whoever makes an item complete sees it in the item its own update returns,
and rolls it; a duplicate that finds its slot counted re-reads the chain, so
a worker that crashed between two steps is finished by the redelivery.
"""
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from chalicelib.adapters.dynamo import Update, from_item, to_item, update_item
from chalicelib.clock import iso_from_epoch
from chalicelib.pagination import bad_cursor, decode_cursor, encode_cursor
from chalicelib.streaming.runs import RUN, Run, RunRepository, part_run_id

CHUNK_LINES = 100          # lines per chunk (the splitter turns it into messages per chunk)
SECTION_CHUNKS = 100       # chunks per section: the RUN item takes one update per 10,000 lines
MAX_SLOTS_PER_UPDATE = 50  # one `NOT contains` per slot; DynamoDB caps an expression at 4 KB
# A run read in parts (streaming/parts.py) numbers part p's messages from p * CHUNKS_PER_PART * per_chunk, so
# its chunks and sections are its own (a multiple of SECTION_CHUNKS), in file order, and its counting items live
# under its own partition key: one file's readers do not share a hot key. 10^7 chunks is 10^9 lines a part; 64
# parts keep chunk numbers within the 9 digits of the sort keys (P#, U#) and seq within MAX_SEQ.
CHUNKS_PER_PART = 10_000_000
CHUNK_TTL_SECONDS = 30 * 24 * 3600  # longer than any message can live in a queue or its DLQ
# Problem-line sets of a chunk, and what each holds. A line can be in two (an ERROR with a 503).
PROBLEM_SETS = {"pf": "FATAL", "pe": "ERROR", "pw": "WARN", "p5": "5xx"}
PROBLEM_LEVELS = {"FATAL": "pf", "ERROR": "pe", "WARN": "pw"}
COUNTER_PREFIXES = ("lvl_", "st_", "fmt_")  # fmt_<format>: the report's by_format (issue 23)
# A chunk's unparsed line numbers (at most UNPARSED_SAMPLE a message), kept as `U#<chunk>` items when it rolls
# up, so that the report can show a run's first few unparsed lines: what a user writes a format for.
UNPARSED_SET = "pu"
UNPARSED_SAMPLE = 5
COUNTERS = ("processed", "unparsed", "truncated")


class LogRun(Run, total=False):
    """A log run's item: the shared run, how its lines are packed into messages, and how far splitting got.
    Its counters (processed, lvl_*, st_*, fmt_*) and report state are added by counting and completion."""
    lines_per_message: int
    per_chunk: int
    lines_per_item: int  # lines packed into one ProcessedLogsTable item (records.py)
    checkpoint_line: int
    checkpoint_seq: int
    blank_lines: int
    header_lines: int
    total_lines: int


def messages_per_chunk(lines_per_message: int) -> int:
    return max(1, CHUNK_LINES // max(1, lines_per_message))


def first_seq(part: int, per_chunk: int) -> int:
    """The number of part `part`'s first message (0 for a run read by one reader, which is part 0)."""
    return part * CHUNKS_PER_PART * per_chunk


def counting_key(run_id: str, chunk: int) -> str:
    """The partition key of a chunk's section, problem-line and unparsed items: the run's own for part 0 (and for
    every run read by one reader), the part's run id for the others."""
    part = chunk // CHUNKS_PER_PART
    return part_run_id(run_id, part) if part else run_id


def problem_sets_of(level: str | None, status_class: str) -> list[str]:
    """The problem sets a line belongs in (none for most lines)."""
    sets = [PROBLEM_LEVELS[level]] if level in PROBLEM_LEVELS else []
    return sets + ["p5"] if status_class == "5xx" else sets


def is_counter(name: str) -> bool:
    return name in COUNTERS or name.startswith(COUNTER_PREFIXES)


@dataclass
class MessageCounts:
    """What one message adds to its run: counters, and the line numbers of its problem lines."""
    run_id: str
    seq: int
    per_chunk: int
    processed: int = 0
    unparsed: int = 0
    truncated: int = 0
    levels: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    problems: dict[str, set[int]] = field(default_factory=dict)
    formats: Counter = field(default_factory=Counter)
    unparsed_lines: set[int] = field(default_factory=set)  # the first UNPARSED_SAMPLE of the message

    @property
    def chunk(self) -> int:
        return self.seq // self.per_chunk

    @property
    def slot(self) -> int:
        return self.seq % self.per_chunk

    def counters(self) -> Counter:
        totals = Counter({"processed": self.processed, "unparsed": self.unparsed, "truncated": self.truncated})
        totals.update({f"lvl_{level}": n for level, n in self.levels.items()})
        totals.update({f"st_{status}": n for status, n in self.statuses.items()})
        totals.update({f"fmt_{name}": n for name, n in self.formats.items()})
        return +totals  # drop zeros: nothing to add


@dataclass
class CountResult:
    duplicates: list[MessageCounts] = field(default_factory=list)
    # Runs whose RUN item a section was rolled into (or re-read on a duplicate's path): completion candidates.
    runs: dict[str, Any] = field(default_factory=dict)
    # Messages whose chunk could not be counted (or rolled up), with why: their redelivery finishes the work.
    failed: list[tuple[MessageCounts, Exception]] = field(default_factory=list)


def _add_counts(update: Update, counters: Counter, sets: dict[str, set[int]]) -> Update:
    """`ADD` of counters and number sets. Their placeholders go by position (#c0, #s0): a counter is named
    after a log format (fmt_<name>), and a format's name may hold characters a placeholder cannot."""
    for i, name in enumerate(sorted(counters)):
        update.add(name, counters[name], alias=f"c{i}")
    for i, name in enumerate(sorted(n for n in sets if sets[n])):
        update.add(name, set(sets[name]), alias=f"s{i}")
    return update


def encode_problem_cursor(chunk: int, line: int, etag: str) -> str | None:
    """The `next` of a problem-lines page: where it goes on from, in the upload it belongs to."""
    return encode_cursor(to_item({"chunk": chunk, "line": line, "etag": etag}))


def decode_problem_cursor(cursor: str) -> tuple[int, int, str | None]:
    """(chunk, line, etag) of a problem-lines cursor; bad_cursor() for one this listing did not write."""
    key = decode_cursor(cursor, {"chunk", "line", "etag"})
    try:
        chunk, line = int(key["chunk"]["N"]), int(key["line"]["N"])
    except (KeyError, ValueError):
        raise bad_cursor() from None
    return chunk, line, key["etag"].get("S")


class LogRunRepository(RunRepository):
    """A log run (RunRepository), plus exact counting, problem lines and the report claim."""

    def __init__(self, table_name: str, now=time.time, problem_lines_ttl_seconds: int | None = None):
        super().__init__(table_name, now)
        # A chunk's problem-line item lives as long as the records it points at (ProcessedLogsTable's TTL).
        self.problem_lines_ttl_seconds = problem_lines_ttl_seconds

    # --- counting ----------------------------------------------------------------

    def _chunk_key(self, run_id: str, chunk: int) -> dict:
        return {"pk": f"{run_id}#C{chunk}", "sk": "C"}

    def _section_key(self, run_id: str, section: int) -> dict:
        return {"pk": counting_key(run_id, section * SECTION_CHUNKS), "sk": f"S#{section:09d}"}

    def _conditional_update(self, key: dict, update: Update, condition: str | None = None) -> dict | None:
        """The counting writes' UpdateItem (one method, so that a test can make moto apply them atomically)."""
        return update_item(self.table_name, key, update, condition)

    def _get(self, key: dict) -> dict | None:
        item = self._db.get_item(TableName=self.table_name, Key=to_item(key), ConsistentRead=True).get("Item")
        return from_item(item) if item else None

    def count(self, messages: list[MessageCounts]) -> CountResult:
        """Count each message exactly once and roll up what that completes."""
        result = CountResult()
        chunks: dict[tuple[str, int], dict[int, MessageCounts]] = {}
        for message in messages:  # the same message twice in one batch is counted once
            slots = chunks.setdefault((message.run_id, message.chunk), {})
            if message.slot in slots:
                result.duplicates.append(message)
            else:
                slots[message.slot] = message

        def count_chunk(run_id: str, chunk: int, slots: dict[int, MessageCounts]):
            image, saw_duplicate = None, False
            ordered = [slots[s] for s in sorted(slots)]
            for start in range(0, len(ordered), MAX_SLOTS_PER_UPDATE):
                part = ordered[start:start + MAX_SLOTS_PER_UPDATE]
                added = self._add_to_chunk(run_id, chunk, part)
                if added is None:  # some were counted before: one at a time, to count the rest
                    for message in part:
                        single = self._add_to_chunk(run_id, chunk, [message])
                        if single is None:
                            result.duplicates.append(message)
                            saw_duplicate = True
                        else:
                            image = single
                else:
                    image = added
            if saw_duplicate or image is None:
                # Its first delivery may have counted it and then failed before rolling up: finish that now.
                image = self._get(self._chunk_key(run_id, chunk))
            if image and self._complete(image, "slots"):
                self._roll_chunk(run_id, chunk, image, result)

        def count_or_fail(run_id: str, chunk: int, slots: dict[int, MessageCounts]):
            try:
                count_chunk(run_id, chunk, slots)
            except Exception as error:  # this chunk's messages are retried; the batch's other chunks stand
                result.failed += [(message, error) for message in slots.values()]

        # Chunks are separate items (and partitions): count them side by side, not one call after another.
        with ThreadPoolExecutor(min(8, max(1, len(chunks))), thread_name_prefix="log-count") as pool:
            list(pool.map(lambda entry: count_or_fail(entry[0][0], entry[0][1], entry[1]), sorted(chunks.items())))
        return result

    @staticmethod
    def _complete(image: dict, members: str) -> bool:
        return image.get("expected") is not None and len(image.get(members, ())) >= int(image["expected"])

    def _add_to_chunk(self, run_id: str, chunk: int, part: list[MessageCounts]) -> dict | None:
        counters: Counter = Counter()
        sets: dict[str, set[int]] = {}
        for message in part:
            counters.update(message.counters())
            for name, lines in message.problems.items():
                sets.setdefault(name, set()).update(lines)
            if message.unparsed_lines:
                sets.setdefault(UNPARSED_SET, set()).update(message.unparsed_lines)
        update = _add_counts(Update(), counters, sets).add("slots", {m.slot for m in part})
        update.clause("SET", "#expected = if_not_exists(#expected, :per_chunk), #ttl = if_not_exists(#ttl, :ttl)",
                      per_chunk=part[0].per_chunk, ttl=int(self.now() + CHUNK_TTL_SECONDS))
        update.with_values(**{f"slot{i}": message.slot for i, message in enumerate(part)})
        return self._conditional_update(self._chunk_key(run_id, chunk), update,
                                        " AND ".join(f"NOT contains(#slots, :slot{i})" for i in range(len(part))))

    def _roll_chunk(self, run_id: str, chunk: int, image: dict, result: CountResult) -> None:
        problems = {name: image[name] for name in PROBLEM_SETS if image.get(name)}
        if problems and self.problem_lines_ttl_seconds:
            problems["ttl"] = int(self.now() + self.problem_lines_ttl_seconds)
        if problems:  # before the roll: once rolled, nobody comes back for them
            self._db.put_item(TableName=self.table_name, Item=to_item(
                {"pk": counting_key(run_id, chunk), "sk": f"P#{chunk:09d}", "chunk": chunk, **problems}))
        unparsed = sorted(int(n) for n in image.get(UNPARSED_SET, ()))[:UNPARSED_SAMPLE]
        if unparsed:  # likewise: the report's first unparsed lines come from these
            self._db.put_item(TableName=self.table_name, Item=to_item(
                {"pk": counting_key(run_id, chunk), "sk": f"U#{chunk:09d}", "chunk": chunk, "lines": set(unparsed)}))
        section = chunk // SECTION_CHUNKS
        counters = Counter({name: int(value) for name, value in image.items() if is_counter(name)})
        update = _add_counts(Update(), counters, {}).add("rolled", {chunk}, placeholder="chunk_set")
        update.clause("SET", "#expected = if_not_exists(#expected, :chunks)", chunks=SECTION_CHUNKS, chunk=chunk)
        rolled = self._conditional_update(self._section_key(run_id, section), update, "NOT contains(#rolled, :chunk)")
        if rolled is None:
            rolled = self._get(self._section_key(run_id, section))
        if rolled and self._complete(rolled, "rolled"):
            self._roll_section(run_id, section, rolled, result)

    def _roll_section(self, run_id: str, section: int, image: dict, result: CountResult) -> None:
        counters = Counter({name: int(value) for name, value in image.items() if is_counter(name)})
        update = _add_counts(Update(), counters, {}).add("rolled_sections", {section}, placeholder="section_set")
        run = self._conditional_update({"pk": run_id, "sk": RUN}, update.with_values(section=section),
                                       "attribute_exists(#pk) AND NOT contains(#rolled_sections, :section)")
        result.runs[run_id] = run if run is not None else self.get(run_id)

    def close_chunks(self, run_id: str, messages: int, per_chunk: int, first: int = 0) -> dict | None:
        """The splitter's last word on counting: how many messages the last chunk and section hold. `messages`
        is the number after the last one sent; `first`, the reader's first (a part's: first_seq).

        Returns the run when that completed its counting (its workers were faster than the splitter).
        """
        if messages <= first:
            return None
        result = CountResult()
        last_chunk = (messages - 1) // per_chunk
        last_section = last_chunk // SECTION_CHUNKS
        section = self._conditional_update(
            self._section_key(run_id, last_section),
            Update().clause("SET", "#expected = :n", n=last_chunk - last_section * SECTION_CHUNKS + 1))
        chunk = self._conditional_update(
            self._chunk_key(run_id, last_chunk),
            Update().clause("SET", "#expected = :n, #ttl = if_not_exists(#ttl, :ttl)",
                            n=messages - last_chunk * per_chunk, ttl=int(self.now() + CHUNK_TTL_SECONDS)))
        assert section is not None and chunk is not None  # no condition: neither update can be refused
        if self._complete(chunk, "slots"):
            self._roll_chunk(run_id, last_chunk, chunk, result)
        elif self._complete(section, "rolled"):
            self._roll_section(run_id, last_section, section, result)
        return result.runs.get(run_id)

    @staticmethod
    def _counting_keys(run_id: str, parts: int) -> list[str]:
        return [counting_key(run_id, part * CHUNKS_PER_PART) for part in range(max(1, parts))]

    def counted_so_far(self, run_id: str, parts: int = 1) -> int:
        """Lines counted into the run's sections (those of each of its `parts`): its progress, to the nearest chunk."""
        return sum(self._counted_under(key) for key in self._counting_keys(run_id, parts))

    def _counted_under(self, pk: str) -> int:
        total, start = 0, None
        while True:
            params = {"TableName": self.table_name, "KeyConditionExpression": "pk = :pk AND begins_with(sk, :s)",
                      "ExpressionAttributeValues": {":pk": {"S": pk}, ":s": {"S": "S#"}},
                      "ProjectionExpression": "#processed", "ExpressionAttributeNames": {"#processed": "processed"}}
            if start:
                params["ExclusiveStartKey"] = start
            page = self._db.query(**params)
            total += sum(int(item.get("processed", {}).get("N", 0)) for item in page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if not start:
                return total

    def problem_chunks(self, run_id: str, from_chunk: int, limit: int = 100, parts: int = 1) -> list[dict]:
        """Problem-line items of the run's chunks from `from_chunk` on, in line order (only chunks that have some):
        up to `limit`, from the part `from_chunk` is in and, while that is not enough, the parts after it."""
        found: list[dict] = []
        for part in range(from_chunk // CHUNKS_PER_PART, max(1, parts)):
            page = self._db.query(
                TableName=self.table_name, Limit=limit - len(found),
                KeyConditionExpression="pk = :pk AND sk BETWEEN :from AND :to",
                ExpressionAttributeValues={":pk": {"S": counting_key(run_id, part * CHUNKS_PER_PART)},
                                           ":from": {"S": f"P#{max(from_chunk, part * CHUNKS_PER_PART):09d}"},
                                           ":to": {"S": f"P#{(part + 1) * CHUNKS_PER_PART - 1:09d}"}})
            found += [from_item(item) for item in page.get("Items", [])]
            if len(found) >= limit or page.get("LastEvaluatedKey"):
                break  # a page ends where the query's does: the next one starts after its last chunk
        return found

    def first_unparsed(self, run_id: str, limit: int = UNPARSED_SAMPLE, parts: int = 1) -> list[int]:
        """The run's first `limit` unparsed line numbers: its first chunks' `U#` items hold them (one query a part,
        until enough are found)."""
        lines: list[int] = []
        for key in self._counting_keys(run_id, parts):
            page = self._db.query(
                TableName=self.table_name, Limit=limit, ConsistentRead=True,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :u)",
                ExpressionAttributeValues={":pk": {"S": key}, ":u": {"S": "U#"}})
            lines += sorted(int(n) for item in page.get("Items", []) for n in item["lines"]["NS"])
            if len(lines) >= limit:
                break
        return lines[:limit]

    # --- completion --------------------------------------------------------------

    def claim_report(self, run_id: str, claim: str, lease_seconds: int = 120,
                     status: str = "completed") -> dict | None:
        """Mark a fully processed run `status` and take the right to write its report; None if not due/taken.

        `claim` names the claimer: a claim applied but answered with a timeout is sent again by botocore
        and must find the report still its own, not taken by "another worker" that nobody will replace.
        """
        now = self.now()
        update = Update().clause("SET", "#status = :completed, #completed_at = if_not_exists(#completed_at, :iso), "
                                        "#report_lease_until = :until, #report_claim = :claim",
                                 completed=status, iso=iso_from_epoch(now), until=int(now + lease_seconds), claim=claim)
        return self._update(
            run_id, update.with_values(now=int(now)),
            "attribute_exists(#total_lines) AND #processed >= #total_lines AND attribute_not_exists(#report_written) "
            "AND (attribute_not_exists(#report_lease_until) OR #report_lease_until < :now OR #report_claim = :claim)")

    def release_report(self, run_id: str, claim: str) -> None:
        """Give up a claim whose report could not be written, so that the redelivery retrying it claims at once."""
        self._update(run_id, Update().clause("SET", "#report_lease_until = :zero", zero=0).with_values(claim=claim),
                     "#report_claim = :claim")

    def report_written(self, run_id: str, report_key: str, unparsed_lines: list[dict] | None = None) -> None:
        """`unparsed_lines`: the report's first unparsed lines, kept so that the report rebuilds identically."""
        update = Update().clause("SET", "#report_written = :yes, #report_key = :key", yes=True, key=report_key)
        if unparsed_lines:
            update.clause("SET", "#unparsed_lines = :unparsed_lines", unparsed_lines=unparsed_lines)
        self._update(run_id, update.remove("report_lease_until"))
