"""DeliveryGuard: the worker applies each message once, in offset order, from the seek."""

from streams.worker.delivery import DeliveryGuard, DeliveryVerdict

TP = ("pulse.logins", 0)


def test_nothing_is_applied_before_the_start_offset_is_known():
    guard = DeliveryGuard()
    assert guard.judge(TP, 5) is DeliveryVerdict.UNKNOWN
    guard.start({TP: 5})
    assert guard.judge(TP, 5) is DeliveryVerdict.APPLY
    assert guard.expected(TP) == 6


def test_a_message_handed_over_again_is_seen_and_the_next_one_applies():
    guard = DeliveryGuard()
    guard.start({TP: 0})
    assert [guard.judge(TP, o) for o in (0, 1, 0, 1, 2)] == [
        DeliveryVerdict.APPLY,
        DeliveryVerdict.APPLY,
        DeliveryVerdict.SEEN,
        DeliveryVerdict.SEEN,
        DeliveryVerdict.APPLY,
    ]


def test_a_jump_the_fetcher_did_not_make_is_a_gap_until_the_missing_offset_comes():
    guard = DeliveryGuard()
    guard.start({TP: 10})
    guard.trail.fetched(TP, 10, [10, 11], 12)  # records 12.. were returned, then dropped on the way
    guard.trail.fetched(TP, 12, [12, 13], 14)
    guard.trail.fetched(TP, 14, [14], 15)
    assert (
        guard.judge(TP, 10) is DeliveryVerdict.APPLY
        and guard.judge(TP, 11) is DeliveryVerdict.APPLY
    )
    assert guard.judge(TP, 14) is DeliveryVerdict.GAP
    assert guard.expected(TP) == 12
    assert guard.judge(TP, 12) is DeliveryVerdict.APPLY


def test_a_jump_the_fetcher_made_applies_markers_aborted_and_removed_records():
    """A transactional producer: 10, 11 committed (marker 12), 13..15 aborted (marker 16),
    17 committed; read_committed returns 10, 11 and 17, the first fetch ending at 13."""
    guard = DeliveryGuard()
    guard.start({TP: 10})
    guard.trail.fetched(TP, 10, [10, 11], 13)
    guard.trail.fetched(TP, 13, [17], 19)
    assert [guard.judge(TP, offset) for offset in (10, 11, 17)] == [
        DeliveryVerdict.APPLY,
        DeliveryVerdict.APPLY,
        DeliveryVerdict.JUMP,
    ]
    assert guard.expected(TP) == 18
    # compaction: holes inside one fetch
    guard.trail.fetched(TP, 19, [19, 25, 26, 40], 41)
    guard.restart(TP, 19)
    assert [guard.judge(TP, offset) for offset in (19, 25, 26, 40)] == [
        DeliveryVerdict.APPLY,
        DeliveryVerdict.JUMP,
        DeliveryVerdict.APPLY,
        DeliveryVerdict.JUMP,
    ]


def test_a_seek_starts_the_trail_again():
    """After a seek the fetcher's position is not where its last fetch ended: the trail
    starts again at the new position, and a jump from the old one is not a jump."""
    guard = DeliveryGuard()
    guard.start({TP: 0})
    guard.trail.fetched(TP, 0, [0, 1], 2)
    guard.trail.fetched(TP, 7, [7, 8], 9)  # sought to 7 by something the worker does not know of
    assert (
        guard.judge(TP, 0) is DeliveryVerdict.APPLY and guard.judge(TP, 1) is DeliveryVerdict.APPLY
    )
    assert guard.judge(TP, 7) is DeliveryVerdict.GAP
    guard.trail.fetched(TP, 5, [6, 7], 8)  # sought to 5: 5 is a marker
    guard.restart(TP, 5)
    assert (
        guard.judge(TP, 6) is DeliveryVerdict.JUMP and guard.judge(TP, 7) is DeliveryVerdict.APPLY
    )


def test_a_jump_is_taken_once():
    guard = DeliveryGuard()
    guard.start({TP: 0})
    guard.trail.fetched(TP, 0, [2], 3)
    assert guard.judge(TP, 2) is DeliveryVerdict.JUMP
    guard.restart(TP, 0)  # read again without a new fetch: no note, so a gap
    assert guard.judge(TP, 2) is DeliveryVerdict.GAP


def test_a_second_seek_does_not_undo_what_was_applied_but_a_reset_does():
    guard = DeliveryGuard()
    guard.start({TP: 0})
    for offset in range(4):
        guard.judge(TP, offset)
    guard.start({TP: 0})  # Faust seeks to the committed offset again
    assert guard.judge(TP, 2) is DeliveryVerdict.SEEN
    assert guard.judge(TP, 4) is DeliveryVerdict.APPLY
    guard.reset()  # a rebalance
    assert guard.judge(TP, 5) is DeliveryVerdict.UNKNOWN
    guard.start({TP: 3})
    assert guard.judge(TP, 3) is DeliveryVerdict.APPLY


def test_a_later_seek_replaces_the_start_where_nothing_was_applied_since():
    """After a rebalance the consumer is sought twice: at the assignment and again once the
    tables are recovered. The first can read a committed offset from before a commit Kafka
    has not made visible yet (a transactional offset commit made during the revocation);
    the second reads the one that holds. Records fetched from the first offset must not be
    applied: the recovered rows already hold them (seen on the real broker: a worker that
    took over a killed one's partitions applied 93 to 175 events of its own partitions
    twice, in 6 runs of 28)."""
    guard = DeliveryGuard()
    guard.start({TP: 1220})  # at the assignment: the offset before the revocation's commit
    guard.start({TP: 1255})  # after the recovery: the committed offset
    assert guard.judge(TP, 1220) is DeliveryVerdict.SEEN
    assert guard.judge(TP, 1255) is DeliveryVerdict.APPLY


def test_the_worker_can_restart_a_partition_at_an_offset_of_its_choice():
    guard = DeliveryGuard()
    guard.start({TP: 0})
    guard.judge(TP, 0)
    guard.restart(TP, 7)
    assert guard.judge(TP, 7) is DeliveryVerdict.APPLY


def test_a_gap_followed_in_the_same_batch_by_the_missing_records_rewinds_to_where_they_end():
    """After a seek, records fetched before it (later offsets: a gap) can arrive in one
    batch with the records fetched again. Those are applied and move the expected offset
    on; the rewind for the gap must start there, not at the offset the gap was seen at,
    or the applied records would be handed over again and applied twice (counted as
    duplicates). Unit test of PulseWorker._in_order over stand-ins for Faust's objects."""
    import asyncio
    from types import SimpleNamespace

    from streams.worker.app import PulseWorker

    tp = ("pulse.logins", 0)
    guard = DeliveryGuard()
    guard.start({tp: 440})
    rewinds: list[dict] = []

    async def rewind(expected: dict) -> None:
        rewinds.append(dict(expected))

    consumer = SimpleNamespace(_unacked_messages=set())
    worker = SimpleNamespace(
        app=SimpleNamespace(
            consumer=consumer,
            consumer_generation_id=7,
            flow_control=SimpleNamespace(is_active=lambda: True),
        ),
        delivery=guard,
        _rewind=rewind,
    )

    class Message:  # hashable, as Faust's messages are
        def __init__(self, offset: int) -> None:
            self.tp, self.offset, self.generation_id, self.acked = tp, offset, 7, False

    def message(offset: int) -> Message:
        return Message(offset)

    batch = [message(450), *(message(offset) for offset in range(440, 450))]
    applied = asyncio.run(PulseWorker._in_order(worker, batch))
    assert [m.offset for m in applied] == list(range(440, 450))
    assert rewinds == [{tp: 450}]
    assert guard.expected(tp) == 450
