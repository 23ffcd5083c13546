"""Runs of work over one uploaded object, kept in DynamoDB so that they survive Lambda's time limit.

Both upload flows (log splitting, invoice ingest) read large objects that can
outlast one invocation, arrive twice, or crash half-way: one mechanism, one
record, written once here. A run is one upload (`<key>@<ETag>`), with a `RUN`
item (pk = run id) holding its status, how far reading got (a byte offset
plus whatever the reader needs to resume), and a lease: the token of the one
invocation allowed to read it and until when. A duplicated S3 event finds the
run taken and does nothing; a reader that crashed is replaced once its lease
runs out; a reader about to time out hands its lease to a continuation by
token. Under `LATEST#<key>` the table remembers the key's newest run, which is
what status APIs show.

A large plain upload is read by several readers at once (streaming/parts.py):
its RUN item's first reader plans it, and each part is then a run of its own
(`<run>#R<part>`, with `parent` naming the run) with the same lease,
checkpoints and hand-overs; the run records how many parts it has (`parts`),
each part adds its totals to it once (`parts_done`), and the last one to finish
ends the run's reading (`seal`).
"""
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Protocol, TypedDict

from chalicelib.adapters.dynamo import Update, from_item, to_item, update_item
from chalicelib import aws

RUN = "RUN"
FAILED = "failed"
SUPERSEDED = "superseded"
# Stored names. The log splitter was this mechanism's first reader and named them; the invoice ingester's runs
# carry the same ones. Renaming them would change stored data: a run in flight across a deploy would lose its
# lease (its token under the old name), and GET /log-batches shows the status as stored. So the code says
# "lease token" and IN_PROGRESS, and the items keep their first names.
IN_PROGRESS = "splitting"  # the status while a run's object is being read
TOKEN = "split_token"  # the lease token's attribute


class Run(TypedDict, total=False):
    """A run's item as the flows read it (DynamoDB gives its numbers back as Decimal). The two flows add their
    own progress (the log flow's counters, the invoice flow's row counts) beside these."""
    run_id: str
    batch_id: str  # the uploaded key: the LATEST pointer's key
    bucket: str
    key: str
    etag: str
    started_at: str
    uploaded_at: str  # when S3 says it was uploaded (orders runs of one key; started_at when unknown)
    status: str  # IN_PROGRESS, then the reader's ending (completed, failed, superseded, ...)
    split_token: str  # TOKEN: the lease's holder
    lease_until: int
    checkpoint_offset: int  # decompressed bytes of the object already read
    failure_reason: str


MAX_KEY_BYTES = 1024  # S3's limit for an object key


def check_upload_key(key: str | None) -> str:
    """A `key` query parameter naming an upload: required, and no longer than an S3 key can be."""
    from chalicelib.errors import InvalidRequest
    if not key:
        raise InvalidRequest("Say which upload.", [{"field": "key", "problem": "is required (the uploaded key)"}])
    if len(key.encode("utf-8", errors="surrogatepass")) > MAX_KEY_BYTES:
        raise InvalidRequest("That is not an S3 key.",
                             [{"field": "key", "problem": f"must be at most {MAX_KEY_BYTES} bytes"}])
    return key


class _Latest(Protocol):
    def latest(self, key: str) -> "Run | None": ...


def latest_run(runs: _Latest, key: str | None) -> Run:
    """The newest run of an uploaded key, as the status APIs show it: 400 for no key, 404 for one never seen."""
    from chalicelib.errors import NotFound
    run = runs.latest(check_upload_key(key))
    if run is None:
        raise NotFound("No upload with this key has been seen.", [{"field": "key", "problem": "not found"}])
    return run


def part_run_id(run_id: str, part: int) -> str:
    """The id of part `part`'s own run: where its reader's lease and checkpoints live."""
    return f"{run_id}#R{part}"


def parent_run_id(run_id: str) -> str:
    """The run a part's run id belongs to (a run's own id for any other). A run id is `<key>@<ETag>[~<sequencer>]`:
    a `#R` inside the key is followed by more than digits."""
    head, separator, tail = run_id.rpartition("#R")
    return head if separator and tail.isdigit() and "@" in head else run_id


def parts_of(run: Any) -> int:
    """How many readers read the run: its parts, or 1."""
    return int(run.get("parts") or 1)


class LeaseLost(RuntimeError):
    """Another invocation owns this run now."""


class RunRepository:
    """The runs of one upload flow's table: start, lease, checkpoints, finish, give up. The flows' repositories
    (LogRunRepository, InvoiceRunRepository) add what their runs keep beside the RUN item."""

    def __init__(self, table_name: str, now: Callable[[], float] = time.time):
        self.table_name = table_name
        self.now = now

    @property
    def _db(self) -> Any:
        return aws.client("dynamodb")

    def _key(self, run_id: str, sort: str = RUN) -> dict:
        return {"pk": {"S": run_id}, "sk": {"S": sort}}

    def _update(self, run_id: str, update: Update, condition: str | None = None) -> dict | None:
        """UpdateItem on the run; None when the condition fails."""
        return update_item(self.table_name, {"pk": run_id, "sk": RUN}, update, condition)

    def get(self, run_id: str) -> Run | None:
        item = self._db.get_item(TableName=self.table_name, Key=self._key(run_id), ConsistentRead=True).get("Item")
        return from_item(item) if item else None  # type: ignore[return-value]  # the item is a Run

    def latest(self, key: str) -> Run | None:
        item = self._db.get_item(TableName=self.table_name, Key=self._key(f"LATEST#{key}", "LATEST"),
                                 ConsistentRead=True).get("Item")
        return self.get(from_item(item)["run_id"]) if item else None

    def start(self, run: Run, token: str, lease_seconds: int, **initial: Any) -> tuple[Run | None, str]:
        """Own the run's reading: (run, "started" | "resumed"), or (None, why not)."""
        now = self.now()
        item: dict[str, Any] = {**run, "pk": run["run_id"], "sk": RUN, "status": IN_PROGRESS, TOKEN: token,
                                "lease_until": int(now + lease_seconds), "checkpoint_offset": 0, **initial}
        try:
            self._db.put_item(TableName=self.table_name, Item=to_item(item),
                              ConditionExpression="attribute_not_exists(pk)")
            self._point_latest(item)
            return item, "started"  # type: ignore[return-value]  # the item is a Run
        except self._db.exceptions.ConditionalCheckFailedException:
            pass
        # Our own put, applied but answered with a timeout and sent again by botocore, fails its condition
        # too: taking over finds our token there (see take_over), and the run is ours to start after all.
        resumed = self.take_over(run["run_id"], None, token, lease_seconds)
        if resumed:
            self._point_latest(resumed)  # the stored run's own times: an older upload never becomes the latest
            return resumed, "resumed"
        existing = self.get(run["run_id"]) or {}
        return None, f"already {existing.get('status', 'unknown')}"

    def _point_latest(self, run: Any) -> None:
        """Make this run the key's latest, unless a newer upload's run already is (events arrive out of order)."""
        uploaded_at = run.get("uploaded_at") or run["started_at"]
        try:
            self._db.put_item(
                TableName=self.table_name, Item=to_item({"pk": f"LATEST#{run['batch_id']}", "sk": "LATEST",
                                                          "run_id": run["run_id"], "uploaded_at": uploaded_at}),
                ConditionExpression="attribute_not_exists(pk) OR attribute_not_exists(uploaded_at) "
                                    "OR uploaded_at <= :uploaded_at",
                ExpressionAttributeValues={":uploaded_at": {"S": uploaded_at}})
        except self._db.exceptions.ConditionalCheckFailedException:
            pass

    @contextmanager
    def release_on_error(self, run_id: str, token: str) -> Iterator[None]:
        """Give up the lease when the reading inside fails, before the error propagates.

        The retry that follows (Lambda's own, for an S3 event; SQS's, for a
        continuation) can then take the run over at once instead of finding
        it still leased and going away as a duplicate.
        """
        try:
            yield
        except LeaseLost:
            raise
        except Exception:
            try:
                self._update(run_id, Update().clause("SET", "#lease_until = :zero", zero=0).with_values(token=token),
                             f"#{TOKEN} = :token")
            except Exception:  # the original error matters more; the lease runs out anyway
                pass
            raise

    def take_over(self, run_id: str, expected_token: str | None, token: str, lease_seconds: int) -> Run | None:
        """Become the reader: with the handed-over token, or because the owner's lease ran out."""
        now = self.now()
        # `:token` (new, known only to this caller) is there already when our own write was applied and its
        # answer lost: botocore sends it again, and it must not find the run "taken" and leave it to nobody.
        condition = f"#status = :reading AND (#lease_until < :now OR #{TOKEN} = :token"
        condition += f" OR #{TOKEN} = :expected)" if expected_token else ")"
        update = Update().clause("SET", f"#{TOKEN} = :token, #lease_until = :until", token=token,
                                 until=int(now + lease_seconds))
        update.with_values(reading=IN_PROGRESS, now=int(now), expected=expected_token)
        return self._update(run_id, update, condition)  # type: ignore[return-value]  # the item is a Run

    def checkpoint(self, run_id: str, token: str, offset: int, lease_seconds: int, next_token: str | None = None,
                   **progress: Any) -> None:
        """Record how far reading got (and renew the lease, or hand it to `next_token`)."""
        update = Update().clause("SET", f"#checkpoint_offset = :offset, #lease_until = :until, #{TOKEN} = :next",
                                 offset=offset, until=int(self.now() + lease_seconds), next=next_token or token)
        for name in sorted(progress):
            update.clause("SET", f"#{name} = :p_{name}", **{f"p_{name}": progress[name]})
        # `:next` too: a hand-over applied but answered with a timeout is sent again by botocore, and must
        # find the run still ours to give (nobody else knows that token until the continuation is queued).
        if self._update(run_id, update.with_values(token=token), f"#{TOKEN} IN (:token, :next)") is None:
            raise LeaseLost(run_id)

    def finish(self, run_id: str, token: str, status: str, **fields: Any) -> Run:
        """End the reading: set the run's new status and final fields; LeaseLost if it was not ours."""
        update = Update().clause("SET", "#status = :new_status", new_status=status)
        for name in sorted(fields):
            update.clause("SET", f"#{name} = :f_{name}", **{f"f_{name}": fields[name]})
        update.remove("lease_until").with_values(token=token, reading=IN_PROGRESS)
        finished = self._update(run_id, update, f"#{TOKEN} = :token AND #status = :reading")
        if finished is None:
            # A finish applied but answered with a timeout fails its own condition when botocore sends it
            # again; only this reader's finish can leave its token on a run that is no longer being read.
            run = self.get(run_id)
            if run and run.get(TOKEN) == token and run.get("status") != IN_PROGRESS:
                return run
            raise LeaseLost(run_id)
        return finished  # type: ignore[return-value]  # the item is a Run

    def give_up(self, run: Run, reason: str) -> str:
        """End a run that Lambda stopped retrying (its reader kept failing): `failed`, with why.

        The run may not exist yet (the reader failed before starting it): it is
        created failed, and becomes the key's latest like any run. A run that
        finished meanwhile (a later retry succeeded) is left alone.
        """
        item = {**run, "pk": run["run_id"], "sk": RUN, "status": FAILED, "failure_reason": reason}
        try:
            self._db.put_item(TableName=self.table_name, Item=to_item(item),
                              ConditionExpression="attribute_not_exists(pk)")
            self._point_latest(item)
            return "created failed"
        except self._db.exceptions.ConditionalCheckFailedException:
            pass
        update = Update().clause("SET", "#status = :failed, #failure_reason = :reason", failed=FAILED, reason=reason)
        failed = self._update(run["run_id"], update.remove("lease_until").with_values(reading=IN_PROGRESS),
                              "#status = :reading")
        return "failed" if failed else "already finished"

    # --- runs read in parts (streaming/parts.py) ------------------------------------

    def start_parts(self, run: dict[str, Any], parts: list[dict[str, Any]], lease_seconds: int) -> None:
        """Create each part's run (idempotent: a planner's retry finds them made). Each is `run`'s fields plus the
        part's own (`run_id`, `parent`, `part`, where it starts and ends, its first token), leased for
        `lease_seconds` to that token, which its start message carries (a hand-over, as UploadReader takes one)."""
        until = int(self.now() + lease_seconds)
        for part in parts:
            item = {**run, **part, "pk": part["run_id"], "sk": RUN, "status": IN_PROGRESS, "lease_until": until}
            item.pop("parts", None)
            try:
                self._db.put_item(TableName=self.table_name, Item=to_item(item),
                                  ConditionExpression="attribute_not_exists(pk)")
            except self._db.exceptions.ConditionalCheckFailedException:
                pass  # made by an earlier attempt of this planner: its reader may be at work already

    def planned(self, run_id: str, token: str, parts: int) -> None:
        """The run's reading is its parts' from now on: record how many, and give up the planner's lease (the run
        stays in progress, so a duplicate event finds it taken); LeaseLost if the planner's lease was lost."""
        update = Update().clause("SET", "#parts = :parts", parts=parts).remove("lease_until")
        if self._update(run_id, update.with_values(token=token, reading=IN_PROGRESS),
                        f"#{TOKEN} = :token AND #status = :reading") is None:
            run = self.get(run_id)
            if not (run and run.get("parts") == parts and run.get(TOKEN) == token):  # not our own retried write
                raise LeaseLost(run_id)

    def part_done(self, run_id: str, part: int, totals: dict[str, int], **fields: Any) -> Run | None:
        """Add a finished part's `totals` to its run once (a retry adds nothing), and set `fields` unless already
        set (the first part to stop at a cap names why); the run's item after it (None: no such run)."""
        update = Update()
        for i, name in enumerate(sorted(totals)):
            update.add(name, totals[name], alias=f"t{i}")
        update.add("parts_done", {part}, placeholder="part_set")
        for name in sorted(fields):
            update.clause("SET", f"#{name} = if_not_exists(#{name}, :f_{name})", **{f"f_{name}": fields[name]})
        done = self._update(run_id, update.with_values(part=part),
                            "attribute_exists(#pk) AND NOT contains(#parts_done, :part)")
        return done if done is not None else self.get(run_id)  # type: ignore[return-value]  # the item is a Run

    @staticmethod
    def all_parts_done(run: Any) -> bool:
        return run is not None and run.get("parts") is not None and len(run.get("parts_done", ())) >= int(run["parts"])

    def seal(self, run_id: str, status: str, **fields: Any) -> Run | None:
        """End the reading of a run whose parts are all done: its status and final fields. None if it was sealed
        already (by another part's reader finishing at the same time, or this one's retry)."""
        update = Update().clause("SET", "#status = :new_status", new_status=status)
        for name in sorted(fields):
            update.clause("SET", f"#{name} = :f_{name}", **{f"f_{name}": fields[name]})
        return self._update(run_id, update.with_values(reading=IN_PROGRESS),  # type: ignore[return-value]
                            "#status = :reading AND attribute_exists(#parts)")

    def supersede(self, run_id: str) -> None:
        update = Update().clause("SET", "#status = :superseded", superseded=SUPERSEDED)
        self._update(run_id, update.with_values(reading=IN_PROGRESS), "#status = :reading")
