"""Registry metadata in SQLite: versions, aliases, append-only alias history, event outbox."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from contracts import MODEL_EVENT, ModelCard, ModelEvent, ModelVersion
from services.registry.artifacts import ArtifactStore
from services.registry.events import registration_events
from services.registry.policy import CHALLENGER, CHAMPION, Champion, Decision
from services.registry.validation import validate_model_name

PromotionPolicy = Callable[[float, Champion | None], Decision]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    card TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS aliases (
    name TEXT NOT NULL,
    alias TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (name, alias),
    FOREIGN KEY (name, version) REFERENCES versions (name, version)
);
CREATE TABLE IF NOT EXISTS alias_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    alias TEXT NOT NULL,
    from_version INTEGER,
    to_version INTEGER,
    reason TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS alias_history_no_update BEFORE UPDATE ON alias_history
BEGIN SELECT RAISE(ABORT, 'alias_history is append-only'); END;
CREATE TRIGGER IF NOT EXISTS alias_history_no_delete BEFORE DELETE ON alias_history
BEGIN SELECT RAISE(ABORT, 'alias_history is append-only'); END;
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    model_name TEXT NOT NULL,
    event TEXT NOT NULL,
    created_at TEXT NOT NULL,
    published_at TEXT
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (seq) WHERE published_at IS NULL;
"""


class ModelSummary(BaseModel):
    """One entry of GET /models."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_name: str
    latest_version: int
    aliases: dict[str, int]


@dataclass(frozen=True)
class AliasMove:
    name: str
    alias: str
    from_version: int | None
    to_version: int | None
    reason: str
    at: str


@dataclass(frozen=True)
class Registration:
    version: ModelVersion
    decision: Decision
    previous_champion: int | None
    events: tuple[ModelEvent, ...]


@dataclass(frozen=True)
class PendingEvent:
    seq: int
    event: ModelEvent


def _now() -> str:
    return datetime.now(UTC).isoformat()


class RegistryStore:
    """Metadata in one SQLite file, artifacts in an ArtifactStore; safe to use from threads."""

    def __init__(self, database_path: Path, artifacts: ArtifactStore) -> None:
        self.database_path = database_path
        self.artifacts = artifacts
        database_path.parent.mkdir(parents=True, exist_ok=True)
        with self._connection() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    # --- writes ----------------------------------------------------------------------------

    def register(self, card: ModelCard, artifact: bytes, policy: PromotionPolicy) -> Registration:
        """Store a new version of `card.model_name`, move aliases by `policy`, queue events."""
        name = validate_model_name(card.model_name)
        sha256 = self.artifacts.put(artifact)  # before the commit: a row never lacks its file
        with self._transaction() as db:
            version = self._next_version(db, name)
            champion = self._champion(db, name)
            decision = policy(card.metrics.rmse, champion)
            created_at = _now()
            db.execute(
                "INSERT INTO versions (name, version, sha256, size, created_at, card)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (name, version, sha256, len(artifact), created_at, card.model_dump_json()),
            )
            self._move_aliases(db, name, version, decision)
            previous = champion.version if champion else None
            events = registration_events(card, version, sha256, decision, previous)
            for event in events:
                db.execute(
                    "INSERT INTO outbox (model_name, event, created_at) VALUES (?, ?, ?)",
                    (name, MODEL_EVENT.dump_json(event).decode(), created_at),
                )
            stored = self._version(db, name, version)
        assert stored is not None  # inserted in this very transaction
        return Registration(stored, decision, previous, tuple(events))

    def mark_published(self, seq: int) -> None:
        with self._transaction() as db:
            db.execute("UPDATE outbox SET published_at = ? WHERE seq = ?", (_now(), seq))

    # --- reads -----------------------------------------------------------------------------

    def list_models(self) -> list[ModelSummary]:
        with self._connection() as db:
            latest = db.execute(
                "SELECT name, MAX(version) FROM versions GROUP BY name ORDER BY name"
            ).fetchall()
            aliases: dict[str, dict[str, int]] = {}
            for name, alias, version in db.execute("SELECT name, alias, version FROM aliases"):
                aliases.setdefault(name, {})[alias] = version
        return [
            ModelSummary(model_name=name, latest_version=top, aliases=aliases.get(name, {}))
            for name, top in latest
        ]

    def versions(self, name: str) -> list[ModelVersion]:
        with self._connection() as db:
            numbers = db.execute(
                "SELECT version FROM versions WHERE name = ? ORDER BY version", (name,)
            ).fetchall()
            found = [self._version(db, name, number) for (number,) in numbers]
        return [v for v in found if v is not None]

    def version(self, name: str, version: int) -> ModelVersion | None:
        with self._connection() as db:
            return self._version(db, name, version)

    def by_alias(self, name: str, alias: str) -> ModelVersion | None:
        with self._connection() as db:
            row = db.execute(
                "SELECT version FROM aliases WHERE name = ? AND alias = ?", (name, alias)
            ).fetchone()
            return self._version(db, name, row[0]) if row else None

    def artifact(self, name: str, version: int) -> tuple[ModelVersion, bytes] | None:
        """The version and its verified bytes (ArtifactCorrupted if they fail the hash)."""
        found = self.version(name, version)
        if found is None:
            return None
        return found, self.artifacts.get(found.sha256)

    def alias_history(self, name: str) -> list[AliasMove]:
        with self._connection() as db:
            rows = db.execute(
                "SELECT name, alias, from_version, to_version, reason, at FROM alias_history"
                " WHERE name = ? ORDER BY id",
                (name,),
            ).fetchall()
        return [AliasMove(*row) for row in rows]

    def pending_events(self, limit: int = 100) -> list[PendingEvent]:
        """Events not yet published, oldest first."""
        with self._connection() as db:
            rows = db.execute(
                "SELECT seq, event FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        return [PendingEvent(seq, MODEL_EVENT.validate_json(event)) for seq, event in rows]

    # --- helpers ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        # One short-lived connection per call: no connection is shared between threads.
        db = sqlite3.connect(self.database_path, timeout=30.0, isolation_level=None)
        try:
            db.execute("PRAGMA foreign_keys = ON")
            yield db
        finally:
            db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front, so two uploads never get the same version.
        with self._connection() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @staticmethod
    def _next_version(db: sqlite3.Connection, name: str) -> int:
        row = db.execute("SELECT MAX(version) FROM versions WHERE name = ?", (name,)).fetchone()
        return int(row[0] or 0) + 1

    @staticmethod
    def _champion(db: sqlite3.Connection, name: str) -> Champion | None:
        row = db.execute(
            "SELECT v.version, v.card FROM aliases a"
            " JOIN versions v ON v.name = a.name AND v.version = a.version"
            " WHERE a.name = ? AND a.alias = ?",
            (name, CHAMPION),
        ).fetchone()
        if row is None:
            return None
        return Champion(version=row[0], rmse=ModelCard.model_validate_json(row[1]).metrics.rmse)

    def _move_aliases(
        self, db: sqlite3.Connection, name: str, version: int, decision: Decision
    ) -> None:
        self._set_alias(db, name, decision.alias, version, decision.reason)
        if decision.promoted:
            # The challenger lost its chance against the old champion: it challenges no one now.
            self._set_alias(db, name, CHALLENGER, None, f"v{version} became champion")

    @staticmethod
    def _set_alias(
        db: sqlite3.Connection, name: str, alias: str, version: int | None, reason: str
    ) -> None:
        """Point `alias` at `version` (None unsets it) and append the move to the history."""
        row = db.execute(
            "SELECT version FROM aliases WHERE name = ? AND alias = ?", (name, alias)
        ).fetchone()
        current = row[0] if row else None
        if current == version:
            return
        if version is None:
            db.execute("DELETE FROM aliases WHERE name = ? AND alias = ?", (name, alias))
        else:
            db.execute(
                "INSERT INTO aliases (name, alias, version) VALUES (?, ?, ?)"
                " ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version",
                (name, alias, version),
            )
        db.execute(
            "INSERT INTO alias_history (name, alias, from_version, to_version, reason, at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (name, alias, current, version, reason, _now()),
        )

    @staticmethod
    def _version(db: sqlite3.Connection, name: str, version: int) -> ModelVersion | None:
        row = db.execute(
            "SELECT sha256, size, created_at, card FROM versions WHERE name = ? AND version = ?",
            (name, version),
        ).fetchone()
        if row is None:
            return None
        aliases = db.execute(
            "SELECT alias FROM aliases WHERE name = ? AND version = ? ORDER BY alias",
            (name, version),
        ).fetchall()
        sha256, size, created_at, card = row
        return ModelVersion(
            model_name=name,
            version=version,
            sha256=sha256,
            size_bytes=size,
            created_at=created_at,
            aliases=tuple(a for (a,) in aliases),
            card=ModelCard.model_validate_json(card),
        )
