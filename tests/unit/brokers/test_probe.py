"""The wire-protocol probe: group placement as Kafka computes it, and no false 'ready'."""

from __future__ import annotations

import socket

import pytest

from mlbus.brokers.probe import (
    ProbeError,
    is_ready,
    java_string_hash,
    metadata_brokers,
    offsets_partition,
    probe_groups,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("hello", 99162322),  # values printed by Java's "...".hashCode()
        ("héllo€", -1099022178),
        ("polygenelubricants", -(2**31)),
    ],
)
def test_java_string_hash_matches_java(text: str, expected: int) -> None:
    assert java_string_hash(text) == expected


def test_offsets_partition_maps_int_min_to_partition_zero_like_kafka() -> None:
    assert offsets_partition("polygenelubricants", 8) == 0
    assert offsets_partition("hello", 50) == 99162322 % 50


def test_probe_groups_cover_every_offsets_partition_once() -> None:
    groups = probe_groups(8)
    assert [offsets_partition(group, 8) for group in groups] == list(range(8))


def test_a_listener_that_never_answers_is_not_ready() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        assert not is_ready("127.0.0.1", port, timeout=0.3)
        with pytest.raises(ProbeError):
            metadata_brokers("127.0.0.1", port, timeout=0.3)


def test_a_closed_port_is_not_ready() -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    assert not is_ready("127.0.0.1", port, timeout=0.3)
