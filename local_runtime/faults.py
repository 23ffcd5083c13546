"""A dev-only fault switch: make an SQS handler fail chosen messages, to watch retries, the DLQ and a redrive.

Seeing a message land in a dead-letter queue, and come back out of it, is the
part of an asynchronous system people least often get to watch. The app has
no bug to trigger on purpose, and it must not grow a hook for one: the switch
lives in the runner, which fails a matching record before the handler sees it
(reported as a `batchItemFailures` entry would be), and the app's code never
knows. A rule names a handler and a text; a record matches when its
`correlation_id` message attribute equals the text or its body contains it.
The console (local_runtime/console.py) toggles rules; nothing else does.
"""
import threading
from typing import Any

DEFAULT_HANDLER = "process_product_queue"


class FaultSwitch:
    def __init__(self):
        self._lock = threading.Lock()
        self._rules: dict[tuple[str, str], None] = {}  # (handler, text), in the order they were set

    def poison(self, match: str, handler: str = DEFAULT_HANDLER) -> None:
        match = (match or "").strip()
        if not match:
            raise ValueError("a rule needs a text to match (an empty one would fail every message)")
        with self._lock:
            self._rules[(handler or DEFAULT_HANDLER, match)] = None

    def unpoison(self, match: str | None = None, handler: str | None = None) -> int:
        """Remove the rules with this text (and handler, when given); every rule when `match` is None."""
        with self._lock:
            gone = [rule for rule in self._rules
                    if (match is None or rule[1] == match.strip()) and (handler is None or rule[0] == handler)]
            for rule in gone:
                del self._rules[rule]
            return len(gone)

    def rules(self) -> list[dict[str, str]]:
        with self._lock:
            return [{"handler": handler, "match": match} for handler, match in self._rules]

    def matches(self, handler: str, record: dict[str, Any]) -> bool:
        """Whether the rules fail this Lambda-shaped SQS record for this handler."""
        with self._lock:
            texts = [match for rule_handler, match in self._rules if rule_handler == handler]
        if not texts:
            return False
        attribute = (record.get("messageAttributes", {}).get("correlation_id") or {}).get("stringValue")
        body = record.get("body") or ""
        return any(text == attribute or text in body for text in texts)
