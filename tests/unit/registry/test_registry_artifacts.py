import hashlib
import os
from pathlib import Path

import pytest

from services.registry.artifacts import ArtifactCorrupted, ArtifactStore


@pytest.fixture
def artifacts(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "artifacts")


def test_put_stores_bytes_under_their_sha256(artifacts: ArtifactStore) -> None:
    digest = artifacts.put(b"model bytes")
    assert digest == hashlib.sha256(b"model bytes").hexdigest()
    assert (artifacts.directory / f"{digest}.onnx").read_bytes() == b"model bytes"
    assert artifacts.get(digest) == b"model bytes"


def test_same_bytes_are_stored_once(artifacts: ArtifactStore) -> None:
    assert artifacts.put(b"same") == artifacts.put(b"same")
    assert len(list(artifacts.directory.iterdir())) == 1


def test_get_refuses_bytes_that_no_longer_match_the_hash(artifacts: ArtifactStore) -> None:
    digest = artifacts.put(b"original")
    artifacts.path_of(digest).write_bytes(b"tampered")
    with pytest.raises(ArtifactCorrupted):
        artifacts.get(digest)


def test_put_repairs_a_corrupted_copy(artifacts: ArtifactStore) -> None:
    digest = artifacts.put(b"original")
    artifacts.path_of(digest).write_bytes(b"tampered")
    artifacts.put(b"original")
    assert artifacts.get(digest) == b"original"


def test_failed_write_leaves_neither_target_nor_temp_file(
    artifacts: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        artifacts.put(b"never complete")
    assert list(artifacts.directory.iterdir()) == []


def test_write_goes_through_a_temp_file_and_rename(
    artifacts: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    renames: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        # at rename time the final name must not exist yet: readers never see a partial file
        assert not Path(dst).exists()
        assert Path(src).read_bytes() == b"complete"
        renames.append((src, dst))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    digest = artifacts.put(b"complete")
    assert len(renames) == 1
    assert Path(renames[0][0]).parent == artifacts.directory
    assert Path(renames[0][1]) == artifacts.path_of(digest)


@pytest.mark.parametrize("bad", ["../x", "a" * 63, "G" * 64, "../" + "a" * 61])
def test_paths_only_for_sha256_names(artifacts: ArtifactStore, bad: str) -> None:
    with pytest.raises(ValueError, match="sha256"):
        artifacts.path_of(bad)
