"""A blocking Kafka protocol probe: is a broker up and advertising itself where we expect?

Plain TCP connects are not enough (a JVM broker can accept before it serves requests), and
an asyncio client cannot be driven from code that already runs inside an event loop, so this
speaks a few small requests of the wire protocol itself: ApiVersions and Metadata, and for
Apache Kafka FindCoordinator and OffsetFetch (its group coordinator loads after a restart).
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

API_VERSIONS = 18
METADATA = 3
FIND_COORDINATOR = 10
OFFSET_FETCH = 9
# Metadata v1..v8 share one non-flexible layout for the part we read (the broker list).
METADATA_MIN, METADATA_MAX = 1, 8
CLIENT_ID = b"mlbus-probe"


class ProbeError(Exception):
    """The broker did not answer as a ready Kafka broker (yet)."""


@dataclass(frozen=True)
class BrokerNode:
    node_id: int
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class _Reader:
    """Big-endian reads over one response body."""

    def __init__(self, data: bytes) -> None:
        self.data, self.offset = data, 0

    def take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.data, self.offset)
        self.offset += struct.calcsize(fmt)
        return int(value)

    def string(self) -> str | None:
        length = self.take(">h")
        if length < 0:
            return None
        value = self.data[self.offset : self.offset + length].decode("utf-8")
        self.offset += length
        return value


def _string(value: str) -> bytes:
    encoded = value.encode("utf-8")
    return struct.pack(">h", len(encoded)) + encoded


def _request(api_key: int, version: int, correlation_id: int, body: bytes) -> bytes:
    header = struct.pack(">hhih", api_key, version, correlation_id, len(CLIENT_ID)) + CLIENT_ID
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def _receive_exactly(sock: socket.socket, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = sock.recv(remaining)
        if not chunk:
            raise ProbeError("broker closed the connection")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _call(
    sock: socket.socket, api_key: int, version: int, correlation_id: int, body: bytes
) -> _Reader:
    sock.sendall(_request(api_key, version, correlation_id, body))
    (size,) = struct.unpack(">i", _receive_exactly(sock, 4))
    reader = _Reader(_receive_exactly(sock, size))
    if reader.take(">i") != correlation_id:
        raise ProbeError("response does not match the request")
    return reader


def _metadata_version(sock: socket.socket) -> int:
    """The Metadata version to use, from the broker's ApiVersions answer (v0: always supported)."""
    reader = _call(sock, API_VERSIONS, 0, 1, b"")
    error = reader.take(">h")
    if error:
        raise ProbeError(f"ApiVersions failed with error code {error}")
    for _ in range(reader.take(">i")):
        api_key, lowest, highest = reader.take(">h"), reader.take(">h"), reader.take(">h")
        if api_key == METADATA and lowest <= METADATA_MAX and highest >= METADATA_MIN:
            return min(highest, METADATA_MAX)
    raise ProbeError("broker supports no Metadata version between v1 and v8")


def _metadata_body(version: int) -> bytes:
    body = struct.pack(">i", 0)  # an empty topic list: brokers only, no topic is created
    if version >= 4:
        body += struct.pack(">?", False)  # allow_auto_topic_creation
    if version >= 8:
        body += struct.pack(">??", False, False)  # authorized operations: not needed
    return body


def _read_node(reader: _Reader) -> BrokerNode:
    node_id = reader.take(">i")
    host = reader.string() or ""
    port = reader.take(">i")
    reader.string()  # rack
    return BrokerNode(node_id, host, port)


def metadata_brokers(host: str, port: int, timeout: float = 2.0) -> list[BrokerNode]:
    """The brokers a Kafka broker at host:port lists in its metadata; raises ProbeError."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            version = _metadata_version(sock)
            reader = _call(sock, METADATA, version, 2, _metadata_body(version))
            if version >= 3:
                reader.take(">i")  # throttle_time_ms
            return [_read_node(reader) for _ in range(reader.take(">i"))]
    except (OSError, struct.error, UnicodeDecodeError) as exc:
        raise ProbeError(f"{host}:{port}: {exc}") from exc


def is_ready(host: str, port: int, timeout: float = 2.0) -> bool:
    """True when the broker answers metadata and lists itself at host:port (as advertised)."""
    try:
        nodes = metadata_brokers(host, port, timeout)
    except ProbeError:
        return False
    return any(node.host == host and node.port == port for node in nodes)


def java_string_hash(text: str) -> int:
    """Java's String.hashCode (as a signed 32-bit int), which Kafka uses to place groups."""
    data, value = text.encode("utf-16-be"), 0
    for index in range(0, len(data), 2):  # Java hashes UTF-16 code units
        value = (31 * value + int.from_bytes(data[index : index + 2], "big")) & 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def offsets_partition(group: str, partitions: int) -> int:
    """The __consumer_offsets partition that holds `group` (Kafka: Utils.abs(hash) % count)."""
    hashed = java_string_hash(group)
    return (0 if hashed == -(1 << 31) else abs(hashed)) % partitions


def probe_groups(partitions: int) -> list[str]:
    """One group name per __consumer_offsets partition, so probing them covers every partition."""
    by_partition: dict[int, str] = {}
    index = 0
    while len(by_partition) < partitions:
        name = f"mlbus-probe-{index}"
        by_partition.setdefault(offsets_partition(name, partitions), name)
        index += 1
    return [by_partition[p] for p in range(partitions)]


def _skip_offset_topics(reader: _Reader) -> None:
    for _ in range(reader.take(">i")):
        reader.string()
        for _ in range(reader.take(">i")):  # partition, offset, metadata, error
            reader.take(">i"), reader.take(">q"), reader.string(), reader.take(">h")


def group_offsets_error(host: str, port: int, group: str, timeout: float = 2.0) -> int:
    """Kafka error code for reading `group`'s offsets now: 0 once its coordinator serves it.

    FindCoordinator (v1) creates __consumer_offsets on a fresh cluster; OffsetFetch (v3) says
    COORDINATOR_LOAD_IN_PROGRESS (14) while a restarted broker still reads that topic back,
    which aiokafka mistakes for "no committed offset" and resets the consumer's position.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            find = _call(sock, FIND_COORDINATOR, 1, 1, _string(group) + struct.pack(">b", 0))
            find.take(">i")  # throttle_time_ms
            error = find.take(">h")
            if error:
                return error
            fetch = _call(sock, OFFSET_FETCH, 3, 2, _string(group) + struct.pack(">i", -1))
            fetch.take(">i")  # throttle_time_ms
            _skip_offset_topics(fetch)
            return fetch.take(">h")
    except (OSError, struct.error, UnicodeDecodeError) as exc:
        raise ProbeError(f"{host}:{port}: {exc}") from exc


def groups_ready(host: str, port: int, offsets_partitions: int, timeout: float = 2.0) -> bool:
    """True when every __consumer_offsets partition's coordinator answers OffsetFetch."""
    try:
        groups = probe_groups(offsets_partitions)
        return all(group_offsets_error(host, port, group, timeout) == 0 for group in groups)
    except ProbeError:
        return False
