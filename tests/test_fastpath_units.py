"""Pure unit tests of streams.faust_fastpath's pieces that need no broker."""

from __future__ import annotations

from types import SimpleNamespace

from aiokafka.structs import TopicPartition
from faust.types import TP

from streams.faust_fastpath import _pressure_callbacks


def test_pressure_callbacks_hand_faust_tps_to_the_consumer() -> None:
    """Messages carry aiokafka's TopicPartition; Faust's consumer asserts it gets its own
    TP when it pauses or resumes a partition (a worker under backpressure crashed on it)."""
    calls: list[tuple[str, object]] = []
    app = SimpleNamespace(
        sensors=SimpleNamespace(on_topic_buffer_full=lambda tp: calls.append(("sensor", tp))),
        consumer=SimpleNamespace(on_buffer_full=lambda tp: calls.append(("full", tp)),
                                 on_buffer_drop=lambda tp: calls.append(("drop", tp))),
    )
    on_high, on_drop = _pressure_callbacks(app, TopicPartition("pulse.logins", 3))
    on_high()
    on_drop()
    assert [name for name, _ in calls] == ["sensor", "full", "drop"]
    assert all(type(tp) is TP and tp == TP("pulse.logins", 3) for _, tp in calls)
