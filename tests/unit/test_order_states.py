import pytest

from chalicelib.orders import states
from chalicelib.orders.states import (COMPLETED, FAILED, PROCESSING, RECEIVED, IllegalTransition, can_transition,
                                      check_transition, history_entry, is_final, leaves_work_list)

LEGAL = {(RECEIVED, PROCESSING), (RECEIVED, FAILED), (PROCESSING, COMPLETED), (PROCESSING, FAILED)}
EVERY_PAIR = [(a, b) for a in states.STATUSES for b in states.STATUSES]


@pytest.mark.parametrize("current, new", sorted(LEGAL))
def test_the_four_legal_transitions_are_allowed(current, new):
    assert can_transition(current, new)
    check_transition(current, new)  # does not raise


@pytest.mark.parametrize("current, new", [pair for pair in EVERY_PAIR if pair not in LEGAL])
def test_every_other_transition_is_refused(current, new):
    assert not can_transition(current, new)
    with pytest.raises(IllegalTransition) as refused:
        check_transition(current, new)
    assert (refused.value.current, refused.value.new) == (current, new)
    assert f"from {current} to {new}" in str(refused.value)


def test_unknown_statuses_are_refused_both_ways():
    with pytest.raises(IllegalTransition):
        check_transition("SHIPPED", COMPLETED)
    with pytest.raises(IllegalTransition):
        check_transition(RECEIVED, "SHIPPED")


def test_completed_and_failed_are_final_received_and_processing_are_not():
    assert [s for s in states.STATUSES if is_final(s)] == [COMPLETED, FAILED]


def test_only_failed_leaves_the_sweeps_work_list_at_once():
    # COMPLETED stays listed until its notification is recorded.
    assert [s for s in states.STATUSES if leaves_work_list(s)] == [FAILED]


def test_history_entries_carry_a_reason_only_when_there_is_one():
    assert history_entry(PROCESSING, "2026-01-01T00:00:00.000Z") == {"status": PROCESSING,
                                                                     "at": "2026-01-01T00:00:00.000Z"}
    assert history_entry(FAILED, "t", "unknown product(s): x") == {"status": FAILED, "at": "t",
                                                                   "reason": "unknown product(s): x"}
