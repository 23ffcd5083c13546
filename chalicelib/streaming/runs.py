"""Runs of work over one uploaded object, tracked in DynamoDB so that they survive Lambda's time limit.

A run is one upload (`<key>@<ETag>`), with a `RUN` item (pk = run id) holding
its status, how far reading got (a byte offset plus whatever the reader needs
to resume), and a lease: the token of the one invocation allowed to read it
and until when. A duplicated S3 event finds the run taken and does nothing; a
reader that crashed is replaced once its lease runs out; a reader about to
time out hands its lease to a continuation by token. Under `LATEST#<key>` the
table remembers the key's newest run, which is what status APIs show.
"""
import re
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from chalicelib import aws
from chalicelib.adapters.dynamo import from_item, to_item

RUN = "RUN"
READING = "splitting"  # the status while a run's object is being read (the log flow named it first)
FAILED = "failed"


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


class LeaseLost(RuntimeError):
    """Another invocation owns this run now."""


class RunLeases:
    def __init__(self, table_name: str, now: Callable[[], float] = time.time):
        self.table_name = table_name
        self.now = now

    @property
    def _db(self):
        return aws.client("dynamodb")

    def _key(self, run_id: str, sort: str = RUN) -> dict:
        return {"pk": {"S": run_id}, "sk": {"S": sort}}

    def _update(self, run_id: str, expression: str, condition: str | None = None, **values) -> dict | None:
        """UpdateItem on the run; None when the condition fails. Values are plain Python."""
        params: dict[str, Any] = {
            "TableName": self.table_name, "Key": self._key(run_id), "UpdateExpression": expression,
            "ExpressionAttributeValues": {f":{k}": v for k, v in to_item(values).items()},
            # Every attribute is written #name: many (status, processed, ttl, ...) are reserved words.
            "ExpressionAttributeNames": {f"#{n}": n for n in re.findall(r"#(\w+)", f"{expression} {condition}")},
            "ReturnValues": "ALL_NEW",
        }
        if condition:
            params["ConditionExpression"] = condition
        if not params["ExpressionAttributeValues"]:
            del params["ExpressionAttributeValues"]
        try:
            return from_item(self._db.update_item(**params)["Attributes"])
        except self._db.exceptions.ConditionalCheckFailedException:
            return None

    def get(self, run_id: str) -> dict | None:
        item = self._db.get_item(TableName=self.table_name, Key=self._key(run_id), ConsistentRead=True).get("Item")
        return from_item(item) if item else None

    def latest(self, key: str) -> dict | None:
        item = self._db.get_item(TableName=self.table_name, Key=self._key(f"LATEST#{key}", "LATEST"),
                                 ConsistentRead=True).get("Item")
        return self.get(from_item(item)["run_id"]) if item else None

    def start(self, run: dict, token: str, lease_seconds: int, **initial) -> tuple[dict | None, str]:
        """Own the run's reading: (run, "started" | "resumed"), or (None, why not)."""
        now = self.now()
        item = {**run, "pk": run["run_id"], "sk": RUN, "status": READING, "split_token": token,
                "lease_until": int(now + lease_seconds), "checkpoint_offset": 0, **initial}
        try:
            self._db.put_item(TableName=self.table_name, Item=to_item(item),
                              ConditionExpression="attribute_not_exists(pk)")
            self._point_latest(run)
            return item, "started"
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

    def _point_latest(self, run: dict) -> None:
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
                self._update(run_id, "SET #lease_until = :zero", "#split_token = :token", zero=0, token=token)
            except Exception:  # the original error matters more; the lease runs out anyway
                pass
            raise

    def take_over(self, run_id: str, expected_token: str | None, token: str, lease_seconds: int) -> dict | None:
        """Become the reader: with the handed-over token, or because the owner's lease ran out."""
        now = self.now()
        # `:token` (new, known only to this caller) is there already when our own write was applied and its
        # answer lost: botocore sends it again, and it must not find the run "taken" and leave it to nobody.
        condition = "#status = :reading AND (#lease_until < :now OR #split_token = :token"
        condition += " OR #split_token = :expected)" if expected_token else ")"
        values = {"reading": READING, "now": int(now), "token": token, "until": int(now + lease_seconds)}
        if expected_token:
            values["expected"] = expected_token
        return self._update(run_id, "SET #split_token = :token, #lease_until = :until", condition, **values)

    def checkpoint(self, run_id: str, token: str, offset: int, lease_seconds: int, next_token: str | None = None,
                   **progress) -> None:
        """Record how far reading got (and renew the lease, or hand it to `next_token`)."""
        names = sorted(progress)
        sets = "".join(f", #{name} = :p_{name}" for name in names)
        # `:next` too: a hand-over applied but answered with a timeout is sent again by botocore, and must
        # find the run still ours to give (nobody else knows that token until the continuation is queued).
        saved = self._update(
            run_id, f"SET #checkpoint_offset = :offset, #lease_until = :until, #split_token = :next{sets}",
            "#split_token IN (:token, :next)", offset=offset, token=token, until=int(self.now() + lease_seconds),
            next=next_token or token, **{f"p_{name}": progress[name] for name in names})
        if saved is None:
            raise LeaseLost(run_id)

    def finish(self, run_id: str, token: str, status: str, **fields) -> dict:
        """End the reading: set the run's new status and final fields; LeaseLost if it was not ours."""
        names = sorted(fields)
        sets = "".join(f", #{name} = :f_{name}" for name in names)
        finished = self._update(
            run_id, f"SET #status = :new_status{sets} REMOVE #lease_until",
            "#split_token = :token AND #status = :reading", new_status=status, token=token, reading=READING,
            **{f"f_{name}": fields[name] for name in names})
        if finished is None:
            # A finish applied but answered with a timeout fails its own condition when botocore sends it
            # again; only this reader's finish can leave its token on a run that is no longer being read.
            run = self.get(run_id)
            if run and run.get("split_token") == token and run.get("status") != READING:
                return run
            raise LeaseLost(run_id)
        return finished

    def give_up(self, run: dict, reason: str) -> str:
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
        failed = self._update(run["run_id"], "SET #status = :failed, #failure_reason = :reason REMOVE #lease_until",
                              "#status = :reading", failed=FAILED, reason=reason, reading=READING)
        return "failed" if failed else "already finished"

    def supersede(self, run_id: str) -> None:
        self._update(run_id, "SET #status = :superseded", "#status = :reading",
                     superseded="superseded", reading=READING)
