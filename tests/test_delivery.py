"""DeliveryGuard: the worker applies each message once, in offset order, from the seek."""

from streams.delivery import DeliveryGuard, Verdict

TP = ("pulse.logins", 0)


def test_nothing_is_applied_before_the_start_offset_is_known():
    guard = DeliveryGuard()
    assert guard.judge(TP, 5, jumps_allowed=False) is Verdict.UNKNOWN
    guard.start({TP: 5})
    assert guard.judge(TP, 5, jumps_allowed=False) is Verdict.APPLY
    assert guard.expected(TP) == 6


def test_a_message_handed_over_again_is_seen_and_the_next_one_applies():
    guard = DeliveryGuard()
    guard.start({TP: 0})
    assert [guard.judge(TP, o, jumps_allowed=False) for o in (0, 1, 0, 1, 2)] == [
        Verdict.APPLY, Verdict.APPLY, Verdict.SEEN, Verdict.SEEN, Verdict.APPLY]


def test_a_jump_on_a_plain_topic_is_a_gap_until_the_missing_offset_comes():
    guard = DeliveryGuard()
    guard.start({TP: 10})
    assert guard.judge(TP, 12, jumps_allowed=False) is Verdict.GAP
    assert guard.judge(TP, 13, jumps_allowed=False) is Verdict.GAP
    assert guard.expected(TP) == 10
    assert guard.judge(TP, 10, jumps_allowed=False) is Verdict.APPLY


def test_a_jump_on_a_transactional_topic_applies():
    guard = DeliveryGuard()
    guard.start({TP: 10})
    assert guard.judge(TP, 12, jumps_allowed=True) is Verdict.APPLY
    assert guard.expected(TP) == 13


def test_a_second_seek_does_not_undo_what_was_applied_but_a_reset_does():
    guard = DeliveryGuard()
    guard.start({TP: 0})
    for offset in range(4):
        guard.judge(TP, offset, jumps_allowed=False)
    guard.start({TP: 0})  # Faust seeks to the committed offset again
    assert guard.judge(TP, 2, jumps_allowed=False) is Verdict.SEEN
    assert guard.judge(TP, 4, jumps_allowed=False) is Verdict.APPLY
    guard.reset()  # a rebalance
    assert guard.judge(TP, 5, jumps_allowed=False) is Verdict.UNKNOWN
    guard.start({TP: 3})
    assert guard.judge(TP, 3, jumps_allowed=False) is Verdict.APPLY


def test_the_worker_can_restart_a_partition_at_an_offset_of_its_choice():
    guard = DeliveryGuard()
    guard.start({TP: 0})
    guard.judge(TP, 0, jumps_allowed=False)
    guard.restart(TP, 7)
    assert guard.judge(TP, 7, jumps_allowed=False) is Verdict.APPLY
