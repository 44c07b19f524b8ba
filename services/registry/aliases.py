"""Alias moves: where `champion` and `challenger` point, and their append-only history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from collections.abc import Sequence

    from services.registry.sql import Connection

MoveKind = Literal["policy", "promote", "rollback"]


def now() -> str:
    return datetime.now(UTC).isoformat()


class AliasMove(BaseModel):
    """One entry of the alias history: who moved which alias from where to where, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_name: str
    alias: str
    from_version: int | None = Field(description="None: the alias was unset")
    to_version: int | None = Field(description="None: the alias was removed")
    kind: MoveKind = Field(description="policy (upload), promote (manual) or rollback")
    actor: str = Field(description="who asked: 'registry' for the policy, else the caller")
    reason: str
    at: str = Field(description="ISO 8601 UTC time of the move")


def current(db: Connection, name: str, alias: str) -> int | None:
    row = db.row("SELECT version FROM aliases WHERE name = ? AND alias = ?", (name, alias))
    return int(row[0]) if row else None


def move(
    db: Connection,
    name: str,
    alias: str,
    version: int | None,
    *,
    kind: MoveKind,
    actor: str,
    reason: str,
) -> AliasMove | None:
    """Point `alias` at `version` (None unsets it) and append the move; None if no change.

    The move's position in the alias's history is read with the alias, in one statement:
    a concurrent move from the same state takes the same position, which the database's
    unique index refuses (services.registry.sql), so no move is lost from the history.
    """
    state = db.row(
        "SELECT (SELECT version FROM aliases WHERE name = ? AND alias = ?),"
        " (SELECT COUNT(*) FROM alias_history WHERE name = ? AND alias = ?)",
        (name, alias, name, alias),
    )
    assert state is not None  # a SELECT without FROM returns one row
    previous, moves_before = (int(state[0]) if state[0] is not None else None), int(state[1])
    if previous == version:
        return None
    if version is None:
        db.run("DELETE FROM aliases WHERE name = ? AND alias = ?", (name, alias))
    else:
        db.run(
            "INSERT INTO aliases (name, alias, version) VALUES (?, ?, ?)"
            " ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version",
            (name, alias, version),
        )
    entry = AliasMove(
        model_name=name,
        alias=alias,
        from_version=previous,
        to_version=version,
        kind=kind,
        actor=actor,
        reason=reason,
        at=now(),
    )
    db.run(
        "INSERT INTO alias_history"
        " (name, alias, from_version, to_version, kind, actor, reason, at, position)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (name, alias, previous, version, kind, actor, reason, entry.at, moves_before + 1),
    )
    return entry


def history(db: Connection, name: str, alias: str | None = None) -> list[AliasMove]:
    query = (
        "SELECT alias, from_version, to_version, kind, actor, reason, at FROM alias_history"
        " WHERE name = ?"
    )
    params: tuple[object, ...] = (name,)
    if alias is not None:
        query, params = query + " AND alias = ?", (name, alias)
    return [
        AliasMove(
            model_name=name,
            alias=row[0],
            from_version=row[1],
            to_version=row[2],
            kind=row[3],
            actor=row[4],
            reason=row[5],
            at=row[6],
        )
        for row in db.rows(query + " ORDER BY id", params)
    ]


def rollback_target(champion_moves: Sequence[AliasMove]) -> int | None:
    """The champion before the current one: promotions stack up, each rollback pops one."""
    stack: list[int] = []
    for entry in champion_moves:
        if entry.kind == "rollback":
            if stack:
                stack.pop()
        elif entry.to_version is not None:
            stack.append(entry.to_version)
    return stack[-2] if len(stack) >= 2 else None
