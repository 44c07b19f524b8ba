"""Versioned data set specs in the registry's database, announced through its outbox.

A spec is stored as version 1, 2, ... of its data set. A body equal to the latest version
(same canonical JSON) stores nothing and answers that version: a PUT is idempotent. A new
version must be compatible with the latest (services.registry.spec_compat) unless it is
declared a new major version; `major` starts at 1 and counts those declarations.

A data set may be retired (SpecRetired through the outbox): it stays retired, one row in
spec_retirements, until a new version is registered. Retiring it again stores nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts import (
    DatasetSpec,
    SpecRegistered,
    SpecRetired,
    canonical_spec_json,
    spec_sha256,
)
from services.registry.aliases import now
from services.registry.events import queue_events
from services.registry.spec_compat import incompatibilities
from services.registry.sql import MAX_VERSION

if TYPE_CHECKING:
    from services.registry.sql import Connection, Database, Row


class Incompatible(ValueError):
    """The spec breaks the latest version and was not declared a new major (HTTP 409)."""

    def __init__(self, latest: int, reasons: list[str]) -> None:
        self.latest = latest
        self.reasons = reasons
        super().__init__(
            f"incompatible with v{latest} (declare a new major version with ?major=true): "
            + "; ".join(reasons)
        )


class Retirement(BaseModel):
    """A data set's retirement: at which version, why and when."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = Field(description="the data set's latest version when it was retired")
    reason: str
    retired_at: str = Field(description="ISO 8601 UTC time it was retired")


class SpecVersion(BaseModel):
    """One stored version of a data set's spec (GET /specs/{name})."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset: str
    version: int
    major: int = Field(description="1, then +1 for each version declared incompatible")
    sha256: str = Field(description="sha256 of the spec's canonical JSON")
    registered_at: str = Field(description="ISO 8601 UTC time it was stored")
    spec: DatasetSpec
    retired: Retirement | None = Field(
        default=None, description="set on the latest version of a retired data set"
    )


class SpecSummary(BaseModel):
    """One entry of GET /specs: a data set and its latest version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset: str
    latest_version: int
    major: int
    task: Literal["regression", "classification"]
    features: int = Field(description="how many features the latest version has")
    retired: Retirement | None = None


@dataclass(frozen=True)
class SpecWrite:
    """What a PUT did: the version that now holds the body, and whether it is new."""

    stored: SpecVersion
    created: bool


@dataclass(frozen=True)
class RetireWrite:
    """What a retirement did: the data set's retirement, and whether this call stored it."""

    retirement: Retirement
    created: bool


class SpecStore:
    """Data set specs in the registry's Database; writes share its write lock and outbox."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def register(self, spec: DatasetSpec, *, major: bool = False) -> SpecWrite:
        """Store `spec` as its data set's next version, unless it equals the latest one.

        Incompatible if it breaks the latest version and `major` is False.
        """
        sha256 = spec_sha256(spec)
        with self.database.transaction() as db:
            latest = _latest(db, spec.name)
            if latest is not None and latest.sha256 == sha256:
                return SpecWrite(latest, created=False)
            stored = _new_version(spec, sha256, latest, major)
            _insert(db, stored)
            db.run("DELETE FROM spec_retirements WHERE name = ?", (spec.name,))  # back in use
            queue_events(db, spec.name, [_announcement(stored)])
        return SpecWrite(stored, created=True)

    def retire(self, name: str, reason: str) -> RetireWrite | None:
        """Retire the data set (None: it has no spec); a retired one stays as it is."""
        with self.database.transaction() as db:
            latest = _latest(db, name)
            if latest is None:
                return None
            if latest.retired is not None:
                return RetireWrite(latest.retired, created=False)
            retirement = Retirement(version=latest.version, reason=reason, retired_at=now())
            db.run(
                "INSERT INTO spec_retirements (name, version, reason, retired_at)"
                " VALUES (?, ?, ?, ?)",
                (name, retirement.version, retirement.reason, retirement.retired_at),
            )
            queue_events(db, name, [_retired_event(name, retirement)])
        return RetireWrite(retirement, created=True)

    def retirement(self, name: str) -> Retirement | None:
        """The data set's retirement; None when it is not retired."""
        with self.database.connection() as db:
            row = db.row(_SELECT_RETIREMENTS + " WHERE name = ?", (name,))
        return _retirement(row[1:]) if row else None

    def latest(self, name: str) -> SpecVersion | None:
        """The data set's latest version, with its retirement if it is retired."""
        with self.database.connection() as db:
            return _latest(db, name)

    def current_major(self, name: str) -> list[SpecVersion]:
        """The versions of the data set's latest major, newest first (empty: none stored)."""
        with self.database.connection() as db:
            latest = _latest(db, name)
            if latest is None:
                return []
            rows = db.rows(
                _SELECT + " WHERE name = ? AND major = ? ORDER BY version DESC",
                (name, latest.major),
            )
        return [_spec_version(row) for row in rows]

    def version(self, name: str, version: int) -> SpecVersion | None:
        if not 1 <= version <= MAX_VERSION:
            return None  # no such version can exist; the database would refuse the number
        with self.database.connection() as db:
            row = db.row(_SELECT + " WHERE name = ? AND version = ?", (name, version))
        return _spec_version(row) if row else None

    def list_specs(self) -> list[SpecSummary]:
        """Every data set with its latest version, by name."""
        with self.database.connection() as db:
            rows = db.rows(_SELECT_LATEST_OF_EACH)
            retired = {row[0]: _retirement(row[1:]) for row in db.rows(_SELECT_RETIREMENTS)}
        return [_summary(_spec_version(row), retired.get(row[0])) for row in rows]


_SELECT = "SELECT name, version, major, sha256, registered_at, spec FROM specs"
_SELECT_LATEST_OF_EACH = (
    f"{_SELECT} s WHERE version = (SELECT MAX(version) FROM specs WHERE name = s.name)"  # noqa: S608 (constants only)
    " ORDER BY name"
)


_SELECT_RETIREMENTS = "SELECT name, version, reason, retired_at FROM spec_retirements"


def _latest(db: Connection, name: str) -> SpecVersion | None:
    row = db.row(_SELECT + " WHERE name = ? ORDER BY version DESC LIMIT 1", (name,))
    if row is None:
        return None
    retired = db.row(_SELECT_RETIREMENTS + " WHERE name = ?", (name,))
    if retired is None:
        return _spec_version(row)
    return _spec_version(row).model_copy(update={"retired": _retirement(retired[1:])})


def _retirement(row: Row) -> Retirement:
    version, reason, retired_at = row
    return Retirement(version=version, reason=reason, retired_at=retired_at)


def _retired_event(name: str, retirement: Retirement) -> SpecRetired:
    return SpecRetired(
        dataset=name,
        version=retirement.version,
        reason=retirement.reason,
        retired_at=datetime.fromisoformat(retirement.retired_at),
    )


def _new_version(
    spec: DatasetSpec, sha256: str, latest: SpecVersion | None, major: bool
) -> SpecVersion:
    """The version `spec` becomes after `latest` (Incompatible if it may not)."""
    if latest is None:
        number, major_number = 1, 1
    else:
        reasons = incompatibilities(latest.spec, spec)
        if reasons and not major:
            raise Incompatible(latest.version, reasons)
        number, major_number = latest.version + 1, latest.major + (1 if major else 0)
    return SpecVersion(
        dataset=spec.name,
        version=number,
        major=major_number,
        sha256=sha256,
        registered_at=now(),
        spec=spec,
    )


def _insert(db: Connection, stored: SpecVersion) -> None:
    db.run(
        "INSERT INTO specs (name, version, major, sha256, spec, registered_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            stored.dataset,
            stored.version,
            stored.major,
            stored.sha256,
            canonical_spec_json(stored.spec),
            stored.registered_at,
        ),
    )


def _announcement(stored: SpecVersion) -> SpecRegistered:
    return SpecRegistered(
        dataset=stored.dataset,
        version=stored.version,
        major=stored.major,
        spec=stored.spec,
        sha256=stored.sha256,
        registered_at=datetime.fromisoformat(stored.registered_at),
    )


def _spec_version(row: Row) -> SpecVersion:
    name, version, major, sha256, registered_at, spec = row
    return SpecVersion(
        dataset=name,
        version=version,
        major=major,
        sha256=sha256,
        registered_at=registered_at,
        spec=DatasetSpec.model_validate_json(spec),
    )


def _summary(stored: SpecVersion, retired: Retirement | None) -> SpecSummary:
    return SpecSummary(
        dataset=stored.dataset,
        latest_version=stored.version,
        major=stored.major,
        task=stored.spec.target.task,
        features=len(stored.spec.features),
        retired=retired,
    )
