"""Real Apache Kafka (KRaft) from Maven jars: serves aiokafka, keeps its log over restarts."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlbus.brokers import ApacheKafkaBroker, BrokerStartError, start_broker
from mlbus.brokers.apache import new_cluster_id, render_properties, server_properties
from mlbus.brokers.probe import metadata_brokers
from tests.unit.brokers.kafka_roundtrip import committed_total, consume, create_topic, produce

MESSAGES = [b"one", b"two", b"three"]


def test_server_properties_describe_one_kraft_node_on_its_own_ports(tmp_path: Path) -> None:
    text = render_properties(server_properties(9101, 9102, tmp_path, {"num.partitions": "2"}))
    settings = dict(line.split("=", 1) for line in text.splitlines())
    assert settings["process.roles"] == "broker,controller"
    assert settings["controller.quorum.voters"] == "1@127.0.0.1:9102"
    assert settings["listeners"] == "PLAINTEXT://127.0.0.1:9101,CONTROLLER://127.0.0.1:9102"
    assert settings["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9101"
    assert settings["log.dirs"] == str(tmp_path)
    assert settings["num.partitions"] == "2"
    assert settings["offsets.topic.replication.factor"] == "1"


def test_cluster_ids_have_kafkas_uuid_form() -> None:
    ids = {new_cluster_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(len(value) == 22 and not value.startswith("-") for value in ids)


@pytest.fixture
def kafka(tmp_path: Path) -> Iterator[ApacheKafkaBroker]:
    broker = start_broker("kafka", tmp_path)
    assert isinstance(broker, ApacheKafkaBroker)
    try:
        yield broker
    finally:
        broker.stop()


@pytest.mark.kafka
@pytest.mark.timeout(60)
async def test_kafka_serves_clients_and_keeps_topics_and_offsets_over_a_restart(
    kafka: ApacheKafkaBroker,
) -> None:
    bootstrap = kafka.bootstrap_servers
    host, port = bootstrap.split(":")
    assert [node.address for node in metadata_brokers(host, int(port))] == [bootstrap]
    await produce(bootstrap, "durable", MESSAGES)
    assert sorted(await consume(bootstrap, "durable", "readers", len(MESSAGES))) == sorted(MESSAGES)
    assert await create_topic(bootstrap, "made.by.admin", partitions=3) == {"made.by.admin": 3}
    cluster_id = (kafka.data_dir / "meta.properties").read_text()

    kafka.restart()

    assert kafka.bootstrap_servers == bootstrap
    assert (kafka.data_dir / "meta.properties").read_text() == cluster_id  # not reformatted
    assert await committed_total(bootstrap, "durable", "readers") == len(MESSAGES)
    fresh_group = await consume(bootstrap, "durable", "newcomers", len(MESSAGES))
    assert sorted(fresh_group) == sorted(MESSAGES)
    await produce(bootstrap, "durable", [b"four"])
    assert await consume(bootstrap, "durable", "readers", 1) == [b"four"]


@pytest.mark.kafka
def test_kafka_start_failure_reports_the_brokers_own_error(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        broker = ApacheKafkaBroker(tmp_path, port=squatter.getsockname()[1])
        with pytest.raises(BrokerStartError, match="Unable to start acceptor for PLAINTEXT"):
            broker.start()
    assert not broker.process.running


def test_a_cleanly_stopped_first_broker_leaves_its_class_archive_for_the_next(
    tmp_path: Path,
) -> None:
    libs = tmp_path / "cache" / "libs"
    libs.mkdir(parents=True)
    (libs / ".complete").write_text("test")
    first = ApacheKafkaBroker(tmp_path / "first", libs_dir=libs)
    assert first._class_sharing() == [f"-XX:ArchiveClassesAtExit={first._archive_draft}"]
    first._archive_draft.parent.mkdir(parents=True)
    first._archive_draft.write_bytes(b"archive")  # what the JVM writes as it exits
    first.process.exit_code = 143  # stopped by SIGTERM, shut down cleanly
    first._keep_class_archive()
    assert first.class_archive == libs.parent / "broker-classes.jsa"
    assert first.class_archive.read_bytes() == b"archive"
    assert not first._archive_draft.exists()
    second = ApacheKafkaBroker(tmp_path / "second", libs_dir=libs)
    assert second._class_sharing()[0] == f"-XX:SharedArchiveFile={first.class_archive}"


def test_a_killed_brokers_class_archive_is_thrown_away(tmp_path: Path) -> None:
    libs = tmp_path / "cache" / "libs"
    libs.mkdir(parents=True)
    (libs / ".complete").write_text("test")
    broker = ApacheKafkaBroker(tmp_path / "killed", libs_dir=libs)
    broker._archive_draft.parent.mkdir(parents=True)
    broker._archive_draft.write_bytes(b"half an arch")
    broker.process.exit_code = -9
    broker._keep_class_archive()
    assert not broker.class_archive.exists()
    assert not broker._archive_draft.exists()
