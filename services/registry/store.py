"""Registry metadata in SQL (SQLite or PostgreSQL): versions, aliases and their history, outbox.

Every write and the events it causes commit in one transaction; the outbox publishes them
afterwards, so an event never announces something the database does not hold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts import (
    ModelCard,
    ModelEvent,
    ModelMetrics,
    ModelVersion,
    ScoreMetric,
)
from services.registry import aliases
from services.registry.aliases import AliasMove, now
from services.registry.events import (
    OUTBOX_EVENT,
    OutboxEvent,
    promotion_event,
    queue_events,
    registration_events,
    rollback_event,
)
from services.registry.policy import CHALLENGER, CHAMPION, Champion, Decision
from services.registry.signature import OnnxSignature
from services.registry.sql import MAX_VERSION, Connection, Database, Lease
from services.registry.validation import validate_model_name

if TYPE_CHECKING:
    from services.registry.artifacts import ArtifactStorage

PromotionPolicy = Callable[[ModelMetrics, Champion | None], Decision]
POLICY_ACTOR = "registry"


class NotFound(LookupError):
    """No such model, version or alias (HTTP 404)."""


class Conflict(ValueError):
    """The change does not apply to the current state (HTTP 409)."""


class ChampionScores(BaseModel):
    """The champion's holdout scores, as GET /models shows them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int
    dataset: str = Field(description="the data set the champion was trained on")
    task: Literal["regression", "classification"]
    metric: ScoreMetric = Field(description="the score promotion compares by")
    scores: dict[str, float] = Field(
        description="rmse, mae, r2 (regression); log_loss, accuracy, macro_f1, roc_auc"
    )

    @classmethod
    def of(cls, version: int, card: ModelCard) -> ChampionScores:
        metrics = card.metrics
        names = _CLASSIFIER_SCORES if metrics.task == "classification" else _REGRESSOR_SCORES
        scores = {name: getattr(metrics, name) for name in names}
        return cls(
            version=version,
            dataset=card.dataset,
            task=metrics.task,
            metric=metrics.metric,
            scores={name: score for name, score in scores.items() if score is not None},
        )


_REGRESSOR_SCORES = ("rmse", "mae", "r2")
_CLASSIFIER_SCORES = ("log_loss", "accuracy", "macro_f1", "roc_auc")


class ModelSummary(BaseModel):
    """One entry of GET /models."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_name: str
    latest_version: int
    aliases: dict[str, int]
    champion: ChampionScores | None = None


class VersionDetails(BaseModel):
    """A version with what the registry decided about it and its ONNX signature."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: ModelVersion
    parent_champion: int | None = Field(description="the champion when this version arrived")
    registered_as: str = Field(description="the alias the promotion policy gave it")
    decision_reason: str
    signature: OnnxSignature | None = Field(description="ONNX inputs and outputs as loaded")


@dataclass(frozen=True)
class Registration:
    version: ModelVersion
    decision: Decision
    previous_champion: int | None
    events: tuple[ModelEvent, ...]


@dataclass(frozen=True)
class AliasChange:
    """A manual promotion or a rollback: the moves it made and the events it queued."""

    moves: tuple[AliasMove, ...]
    events: tuple[ModelEvent, ...]


@dataclass(frozen=True)
class PendingEvent:
    seq: int
    event: OutboxEvent


class RegistryStore:
    """Metadata in a SQL Database, artifacts in an ArtifactStorage; safe to use from threads."""

    def __init__(self, database: Database, artifacts: ArtifactStorage) -> None:
        self.database = database
        self.artifacts = artifacts

    # --- writes ----------------------------------------------------------------------------

    def register(
        self,
        card: ModelCard,
        artifact: bytes,
        policy: PromotionPolicy,
        signature: OnnxSignature | None = None,
    ) -> Registration:
        """Store a new version of `card.model_name`, move aliases by `policy`, queue events."""
        name = validate_model_name(card.model_name)
        sha256 = self.artifacts.put(artifact)  # before the commit: a row never lacks its file
        with self.database.transaction() as db:
            version = self._next_version(db, name)
            champion = self._champion(db, name)
            decision = policy(card.metrics, champion)
            previous = champion.version if champion else None
            db.run(
                "INSERT INTO versions (name, version, sha256, size, created_at, parent_champion,"
                " registered_as, decision_reason, signature, card)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    version,
                    sha256,
                    len(artifact),
                    now(),
                    previous,
                    decision.alias,
                    decision.reason,
                    signature.model_dump_json() if signature else None,
                    card.model_dump_json(),
                ),
            )
            self._apply_decision(db, name, version, decision)
            events = registration_events(card, version, sha256, decision, previous)
            queue_events(db, name, events)
            stored = self._version(db, name, version)
        assert stored is not None  # inserted in this very transaction
        return Registration(stored, decision, previous, tuple(events))

    def promote(self, name: str, version: int, actor: str, reason: str) -> AliasChange:
        """Make `version` the champion by hand (NotFound, Conflict if it is already)."""
        with self.database.transaction() as db:
            target = self._version(db, name, version)
            if target is None:
                raise NotFound(f"{name} v{version} not found")
            previous = aliases.current(db, name, CHAMPION)
            if previous == version:
                raise Conflict(f"{name} v{version} is already the champion")
            why = f"manual promotion by {actor}: {reason}"
            moves = self._make_champion(db, name, version, "promote", actor, why)
            event = promotion_event(name, version, target.sha256, previous, why)
            queue_events(db, name, [event])
        return AliasChange(moves, (event,))

    def rollback(self, name: str, actor: str, reason: str) -> AliasChange:
        """Give `champion` back to the version that held it before the current one."""
        with self.database.transaction() as db:
            current = aliases.current(db, name, CHAMPION)
            if current is None:
                raise NotFound(f"{name} has no champion")
            target = aliases.rollback_target(aliases.history(db, name, CHAMPION))
            if target is None:
                raise Conflict(f"{name} v{current} has no earlier champion to roll back to")
            stored = self._version(db, name, target)
            assert stored is not None  # aliases only ever point at stored versions
            why = f"rollback by {actor}: {reason}"
            moves = self._make_champion(db, name, target, "rollback", actor, why)
            event = rollback_event(name, target, stored.sha256, current, why)
            queue_events(db, name, [event])
        return AliasChange(moves, (event,))

    def try_outbox_lease(self) -> Lease | None:
        """The right to publish the outbox, one process at a time (see Database)."""
        return self.database.try_outbox_lease()

    def mark_published(self, seq: int) -> None:
        with self.database.transaction() as db:
            db.run("UPDATE outbox SET published_at = ? WHERE seq = ?", (now(), seq))

    # --- reads -----------------------------------------------------------------------------

    def list_models(self) -> list[ModelSummary]:
        with self.database.connection() as db:
            latest = db.rows("SELECT name, MAX(version) FROM versions GROUP BY name ORDER BY name")
            by_name: dict[str, dict[str, int]] = {}
            for name, alias, version in db.rows("SELECT name, alias, version FROM aliases"):
                by_name.setdefault(name, {})[alias] = version
            champions = {
                name: ChampionScores.of(version, ModelCard.model_validate_json(card))
                for name, version, card in db.rows(
                    "SELECT a.name, v.version, v.card FROM aliases a"
                    " JOIN versions v ON v.name = a.name AND v.version = a.version"
                    " WHERE a.alias = ?",
                    (CHAMPION,),
                )
            }
        return [
            ModelSummary(
                model_name=name,
                latest_version=top,
                aliases=by_name.get(name, {}),
                champion=champions.get(name),
            )
            for name, top in latest
        ]

    def versions(self, name: str) -> list[ModelVersion]:
        with self.database.connection() as db:
            numbers = db.rows(
                "SELECT version FROM versions WHERE name = ? ORDER BY version", (name,)
            )
            found = [self._version(db, name, number) for (number,) in numbers]
        return [v for v in found if v is not None]

    def version(self, name: str, version: int) -> ModelVersion | None:
        with self.database.connection() as db:
            return self._version(db, name, version)

    def details(self, name: str, version: int) -> VersionDetails | None:
        if not _storable(version):
            return None
        with self.database.connection() as db:
            stored = self._version(db, name, version)
            row = db.row(
                "SELECT parent_champion, registered_as, decision_reason, signature"
                " FROM versions WHERE name = ? AND version = ?",
                (name, version),
            )
        if stored is None or row is None:
            return None
        parent, registered_as, reason, signature = row
        return VersionDetails(
            version=stored,
            parent_champion=parent,
            registered_as=registered_as,
            decision_reason=reason,
            signature=OnnxSignature.model_validate_json(signature) if signature else None,
        )

    def by_alias(self, name: str, alias: str) -> ModelVersion | None:
        with self.database.connection() as db:
            number = aliases.current(db, name, alias)
            return self._version(db, name, number) if number is not None else None

    def artifact(self, name: str, version: int) -> tuple[ModelVersion, bytes] | None:
        """The version and its verified bytes (ArtifactCorrupted if they fail the hash)."""
        found = self.version(name, version)
        if found is None:
            return None
        return found, self.artifacts.get(found.sha256)

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasMove]:
        with self.database.connection() as db:
            return aliases.history(db, name, alias)

    def pending_events(self, limit: int = 100) -> list[PendingEvent]:
        """Events not yet published, oldest first."""
        with self.database.connection() as db:
            rows = db.rows(
                "SELECT seq, event FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT ?",
                (limit,),
            )
        return [PendingEvent(seq, OUTBOX_EVENT.validate_json(event)) for seq, event in rows]

    # --- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _next_version(db: Connection, name: str) -> int:
        row = db.row("SELECT MAX(version) FROM versions WHERE name = ?", (name,))
        return int(row[0] or 0) + 1 if row else 1

    @staticmethod
    def _champion(db: Connection, name: str) -> Champion | None:
        row = db.row(
            "SELECT v.version, v.card FROM aliases a"
            " JOIN versions v ON v.name = a.name AND v.version = a.version"
            " WHERE a.name = ? AND a.alias = ?",
            (name, CHAMPION),
        )
        if row is None:
            return None
        return Champion(version=row[0], metrics=ModelCard.model_validate_json(row[1]).metrics)

    def _apply_decision(self, db: Connection, name: str, version: int, decision: Decision) -> None:
        if decision.promoted:
            self._make_champion(db, name, version, "policy", POLICY_ACTOR, decision.reason)
        else:
            aliases.move(
                db,
                name,
                CHALLENGER,
                version,
                kind="policy",
                actor=POLICY_ACTOR,
                reason=decision.reason,
            )

    @staticmethod
    def _make_champion(
        db: Connection, name: str, version: int, kind: aliases.MoveKind, actor: str, reason: str
    ) -> tuple[AliasMove, ...]:
        moved = aliases.move(db, name, CHAMPION, version, kind=kind, actor=actor, reason=reason)
        if kind == "rollback":  # a rollback restores the champion only; the challenger stays
            return tuple(m for m in (moved,) if m is not None)
        # The challenger lost its chance against the old champion: it challenges no one now.
        why = f"v{version} became champion"
        cleared = aliases.move(db, name, CHALLENGER, None, kind=kind, actor=actor, reason=why)
        return tuple(m for m in (moved, cleared) if m is not None)

    @staticmethod
    def _version(db: Connection, name: str, version: int) -> ModelVersion | None:
        if not _storable(version):
            return None  # no such version can exist; the database would refuse the number
        row = db.row(
            "SELECT sha256, size, created_at, card FROM versions WHERE name = ? AND version = ?",
            (name, version),
        )
        if row is None:
            return None
        held = db.rows(
            "SELECT alias FROM aliases WHERE name = ? AND version = ? ORDER BY alias",
            (name, version),
        )
        sha256, size, created_at, card = row
        return ModelVersion(
            model_name=name,
            version=version,
            sha256=sha256,
            size_bytes=size,
            created_at=created_at,
            aliases=tuple(a for (a,) in held),
            card=ModelCard.model_validate_json(card),
        )


def _storable(version: int) -> bool:
    return 1 <= version <= MAX_VERSION
