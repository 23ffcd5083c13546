"""The emulator's SQS fix: a send racing a delete is neither lost nor does the delete come undone.

moto deletes by replacing the queue's message list with a copy, outside the
lock its sends append under; a 100k-line benchmark lost messages that way and
never completed. The race is forced here with many thread switches on a deep
queue, straight on moto's queue model (boto3's overhead would hide it).
"""
import sys
import threading

import pytest

from local_runtime.emulator import lock_sqs_queues


@pytest.fixture
def frequent_switches():
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def test_sends_racing_deletes_are_kept_and_deletes_stay_deleted(frequent_switches):
    import moto.sqs.models as sqs_models
    lock_sqs_queues()
    queue = sqs_models.Queue("race", region="us-east-1", account_id="123456789012")
    received = []
    for i in range(10_000):
        message = sqs_models.Message(f"old-{i}", "old")
        message.mark_received()
        queue._messages.append(message)
        received.append(message)
    to_delete = [m.receipt_handle for m in received[:1_500]]
    added = [sqs_models.Message(f"new-{i}", "new") for i in range(1_500)]

    def send():
        for message in added:
            queue.add_message(message)

    def delete(handles):
        for handle in handles:
            queue.delete_message(handle)

    threads = [threading.Thread(target=send)] + [threading.Thread(target=delete, args=(to_delete[k::2],))
                                                 for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    left = {m.id for m in queue._messages}
    assert {m.id for m in added} <= left, "a send racing a delete was lost"
    assert not left & {m.id for m in received[:1_500]}, "a delete came undone"
    assert len(queue._messages) == 10_000
