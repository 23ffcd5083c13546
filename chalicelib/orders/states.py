"""The order's life as a small, pure state machine.

Kept apart from DynamoDB so the rules can be read (and tested) in one place:
the repository asks `check_transition` before every conditional write, so an
illegal move is refused here and never reaches the table, and the condition
on the write (`#status = :from`) refuses a legal move whose starting state is
stale because another delivery got there first.
"""
RECEIVED = "RECEIVED"
PROCESSING = "PROCESSING"
COMPLETED = "COMPLETED"
FAILED = "FAILED"

STATUSES = (RECEIVED, PROCESSING, COMPLETED, FAILED)

TRANSITIONS: dict[str, frozenset[str]] = {
    RECEIVED: frozenset({PROCESSING, FAILED}),
    PROCESSING: frozenset({COMPLETED, FAILED}),
    COMPLETED: frozenset(),
    FAILED: frozenset(),
}


class IllegalTransition(ValueError):
    """A move the order's life does not allow, e.g. COMPLETED → PROCESSING."""

    def __init__(self, current: str, new: str):
        super().__init__(f"an order cannot go from {current} to {new}")
        self.current = current
        self.new = new


def can_transition(current: str, new: str) -> bool:
    return new in TRANSITIONS.get(current, frozenset())


def check_transition(current: str, new: str) -> None:
    if not can_transition(current, new):
        raise IllegalTransition(current, new)


def is_final(status: str) -> bool:
    """No transition leaves this status."""
    return not TRANSITIONS.get(status)


def leaves_work_list(status: str) -> bool:
    """Whether entering `status` takes the order off the sweep's work list (pending-index-v2) at once.

    FAILED does: nothing more will happen to it. COMPLETED does not: the order
    still owes its notification, and stays listed until that is recorded.
    """
    return status == FAILED


def history_entry(status: str, at: str, reason: str | None = None) -> dict[str, str]:
    entry = {"status": status, "at": at}
    if reason:
        entry["reason"] = reason
    return entry
