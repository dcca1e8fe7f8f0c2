"""The one topic check (streams/kafka/topics.ensure_topics) against the real broker: what
`pulse worker` checks at start-up and what `pulse dev topics` creates answer alike, in one
sentence naming the fix, and nothing is created when a check fails."""

from __future__ import annotations

import asyncio

import pytest

from streams.contract.model import DEAD_LETTER_TOPIC, SOURCE_TOPICS
from streams.errors import PulseError
from streams.kafka.topics import ensure_topics
from streams.worker.run import check_topics
from streams.worker.settings import WorkerSettings
from tests.integration.helpers import create_topics, unique, wait_until

pytestmark = pytest.mark.kafka


def _worker(bootstrap: str, prefix: str, partitions: int = 4) -> WorkerSettings:
    return WorkerSettings(bootstrap=bootstrap, topic_prefix=prefix, partitions=partitions)


def _exists(bootstrap: str, name: str) -> bool:
    try:
        asyncio.run(ensure_topics(bootstrap, 4, names=(), required=(name,), create_hint="x"))
    except PulseError as error:
        if "does not exist" in str(error):
            return False
    return True


def test_a_missing_source_topic_names_the_command_that_creates_it(kafka_bootstrap):
    prefix = unique("missing") + "."
    rekey = prefix + "rekeyed"
    with pytest.raises(PulseError) as raised:
        asyncio.run(check_topics(_worker(kafka_bootstrap, prefix), rekey))
    assert str(raised.value) == (
        f"topic {prefix}{SOURCE_TOPICS[0]} does not exist on {kafka_bootstrap}: create the "
        f"project's topics with `pulse dev topics --bootstrap {kafka_bootstrap} --partitions 4 "
        f"--prefix {prefix}`."
    )
    assert not _exists(kafka_bootstrap, rekey)  # nothing created when the check fails


def test_the_worker_and_dev_topics_name_a_partition_mismatch_alike(kafka_bootstrap):
    prefix = unique("sized") + "."
    create_topics(kafka_bootstrap, [prefix + t for t in (*SOURCE_TOPICS, DEAD_LETTER_TOPIC)], 2)
    expected = (
        f"topic {prefix}{SOURCE_TOPICS[0]} has 2 partitions, not 4: use --partitions 2 "
        "everywhere or recreate the topic."
    )
    with pytest.raises(PulseError) as from_worker:
        asyncio.run(check_topics(_worker(kafka_bootstrap, prefix), prefix + "rekeyed"))
    names = tuple(prefix + t for t in (*SOURCE_TOPICS, DEAD_LETTER_TOPIC))
    with pytest.raises(PulseError) as from_dev:
        asyncio.run(ensure_topics(kafka_bootstrap, 4, names=names))
    assert str(from_worker.value) == str(from_dev.value) == expected
    assert not _exists(kafka_bootstrap, prefix + "rekeyed")


def test_the_worker_creates_its_rekey_topic_once_the_project_topics_exist(kafka_bootstrap):
    prefix = unique("ok") + "."
    create_topics(kafka_bootstrap, [prefix + t for t in (*SOURCE_TOPICS, DEAD_LETTER_TOPIC)], 4)
    asyncio.run(check_topics(_worker(kafka_bootstrap, prefix), prefix + "rekeyed"))
    # the broker's metadata shows a new topic shortly after it is created
    wait_until(lambda: _exists(kafka_bootstrap, prefix + "rekeyed"), 60, what="the re-key topic")
    states = asyncio.run(ensure_topics(kafka_bootstrap, 4, names=(prefix + "rekeyed",)))
    assert states == {prefix + "rekeyed": "exists"}
