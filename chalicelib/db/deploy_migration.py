"""Apply the product schema when a postgres stage deploys: the `migrate_product_db` Lambda's handler.

Why a Lambda run by a CloudFormation custom resource (infra/product_db.py):
the database is private, so the migration runs inside its VPC; it runs before
the functions that need the new schema are updated (they depend on it in the
template); and a migration that fails fails the deploy, which rolls back,
instead of showing up later as errors in requests.

The handler answers CloudFormation itself, with a PUT to the request's
pre-signed ResponseURL (S3, reached through the VPC's gateway endpoint): the
`cfnresponse` module exists only for inline code. It answers before Lambda's
deadline even when the database never comes up, because a custom resource
left without an answer holds the stack for an hour. A new database (or proxy
target) takes a while to accept connections, so unavailability is retried
until then. Delete answers at once without touching the database: deleting
the stack never drops data. Invoked directly (`aws lambda invoke`), it
migrates and returns what it applied.
"""
import json
import threading
import time
import urllib.request
from typing import Any, Callable

from chalicelib.db.connection import database, is_unavailable
from chalicelib.db.migrate import MIGRATIONS, migrate
from chalicelib.logs import logger

PHYSICAL_ID = "product-db-schema"  # one schema per stack; a changed id would make CloudFormation delete it
ANSWER_TIMEOUT_SECONDS = 30.0
# The answer leaves this long before Lambda's deadline: time for its PUT (and its timeout) to finish.
ANSWER_MARGIN_SECONDS = ANSWER_TIMEOUT_SECONDS + 10.0
RETRY_EVERY_SECONDS = 5.0


def apply_migrations(deadline: float, sleep: Callable[[float], None] = time.sleep) -> list[int]:
    """Migrate, retrying while the database is unavailable and the deadline allows; the versions applied."""
    while True:
        try:
            return migrate(database())
        except Exception as error:
            if not is_unavailable(error) or time.monotonic() + RETRY_EVERY_SECONDS >= deadline:
                raise
            logger.info("product database not reachable yet; retrying", error=str(error))
            sleep(RETRY_EVERY_SECONDS)


def answer(event: dict, status: str, reason: str, data: dict[str, str] | None = None) -> None:
    """CloudFormation's custom resource response (its documented JSON, an empty content type)."""
    body = json.dumps({
        "Status": status, "Reason": reason[:1000], "PhysicalResourceId": PHYSICAL_ID,
        "StackId": event["StackId"], "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"], "Data": data or {},
    }).encode()
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT",
                                     headers={"Content-Type": "", "Content-Length": str(len(body))})
    with urllib.request.urlopen(request, timeout=ANSWER_TIMEOUT_SECONDS) as response:
        response.read()


def on_deploy(event: dict, context: Any) -> dict:
    remaining = context.get_remaining_time_in_millis() / 1000 if context is not None else 900.0
    deadline = time.monotonic() + remaining - ANSWER_MARGIN_SECONDS
    if "ResponseURL" not in event:  # invoked by hand
        applied = apply_migrations(deadline)
        return {"applied": applied, "latest": MIGRATIONS[-1][0]}
    if event.get("RequestType") == "Delete":
        answer(event, "SUCCESS", "the schema stays with the data")
        return {}
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["applied"] = apply_migrations(deadline)
        except Exception as error:  # reported to CloudFormation below; the stack rolls back
            logger.exception("product schema migration failed")
            outcome["error"] = f"{type(error).__name__}: {error}"

    # A thread, so the answer goes out at the deadline even if a statement is still waiting.
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()))
    log = getattr(context, "log_stream_name", "")
    if "applied" in outcome:
        applied = outcome["applied"]
        answer(event, "SUCCESS", f"applied {applied or 'nothing'}",
               {"Applied": ",".join(map(str, applied)), "SchemaVersion": str(MIGRATIONS[-1][0])})
        return outcome
    reason = outcome.get("error") or "timed out waiting for the product database"
    answer(event, "FAILED", f"{reason} (log stream {log})")
    return outcome
