"""The registry's SQL databases: SQLite (a file, the default) or PostgreSQL (by URL).

Tables: versions, aliases, alias_history and outbox (models), specs (data sets' specs) and
spec_retirements (the data sets retired, one row each until registered again).
The store writes portable SQL with `?` placeholders; each backend owns its schema, its
connections and the write lock that makes version numbering race-free.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import psycopg

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

Row = tuple[Any, ...]

# Version numbers are INTEGER columns: 32 bits in PostgreSQL, 64 in SQLite. Both backends
# take the smaller range, so a number beyond it is refused the same way on either.
MAX_VERSION = 2**31 - 1


class Connection(Protocol):
    """What the store needs of a connection: run a statement, read its rows."""

    def run(self, sql: str, params: Sequence[object] = ()) -> None: ...
    def rows(self, sql: str, params: Sequence[object] = ()) -> list[Row]: ...
    def row(self, sql: str, params: Sequence[object] = ()) -> Row | None: ...


class Database(Protocol):
    dialect: str

    def connection(self) -> contextlib.AbstractContextManager[Connection]:
        """A connection for reads (each statement sees committed data)."""
        ...

    def transaction(self) -> contextlib.AbstractContextManager[Connection]:
        """A write transaction holding the registry's write lock; committed on success."""
        ...

    def try_outbox_lease(self) -> Lease | None:
        """The right to publish the outbox, held by one process at a time; None when another
        process (a replica on the same database) holds it now."""
        ...


class Lease(Protocol):
    def release(self) -> None: ...


_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    parent_champion INTEGER,
    registered_as TEXT NOT NULL,
    decision_reason TEXT NOT NULL,
    signature TEXT,
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
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    at TEXT NOT NULL,
    position INTEGER
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
CREATE TABLE IF NOT EXISTS specs (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    major INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    spec TEXT NOT NULL,
    registered_at TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS spec_retirements (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    reason TEXT NOT NULL,
    retired_at TEXT NOT NULL
);
"""

_POSTGRES_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS versions (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        size BIGINT NOT NULL,
        created_at TEXT NOT NULL,
        parent_champion INTEGER,
        registered_as TEXT NOT NULL,
        decision_reason TEXT NOT NULL,
        signature TEXT,
        card TEXT NOT NULL,
        PRIMARY KEY (name, version)
    )""",
    """CREATE TABLE IF NOT EXISTS aliases (
        name TEXT NOT NULL,
        alias TEXT NOT NULL,
        version INTEGER NOT NULL,
        PRIMARY KEY (name, alias),
        FOREIGN KEY (name, version) REFERENCES versions (name, version)
    )""",
    """CREATE TABLE IF NOT EXISTS alias_history (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name TEXT NOT NULL,
        alias TEXT NOT NULL,
        from_version INTEGER,
        to_version INTEGER,
        kind TEXT NOT NULL,
        actor TEXT NOT NULL,
        reason TEXT NOT NULL,
        at TEXT NOT NULL,
        position INTEGER
    )""",
    # Histories from before `position`: their rows keep NULL (distinct in a unique index).
    "ALTER TABLE alias_history ADD COLUMN IF NOT EXISTS position INTEGER",
    """CREATE OR REPLACE FUNCTION mlbus_alias_history_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'alias_history is append-only'; END $$""",
    """CREATE OR REPLACE TRIGGER alias_history_append_only
        BEFORE UPDATE OR DELETE ON alias_history
        FOR EACH ROW EXECUTE FUNCTION mlbus_alias_history_append_only()""",
    """CREATE OR REPLACE TRIGGER alias_history_no_truncate
        BEFORE TRUNCATE ON alias_history
        FOR EACH STATEMENT EXECUTE FUNCTION mlbus_alias_history_append_only()""",
    """CREATE TABLE IF NOT EXISTS outbox (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        model_name TEXT NOT NULL,
        event TEXT NOT NULL,
        created_at TEXT NOT NULL,
        published_at TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (seq) WHERE published_at IS NULL",
    """CREATE TABLE IF NOT EXISTS specs (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        major INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        spec TEXT NOT NULL,
        registered_at TEXT NOT NULL,
        PRIMARY KEY (name, version)
    )""",
    """CREATE TABLE IF NOT EXISTS spec_retirements (
        name TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        reason TEXT NOT NULL,
        retired_at TEXT NOT NULL
    )""",
]

# The n-th move of an alias is unique: two transactions that read the same state of an alias
# (one registry replica, one statement each) both write move n, and the database refuses the
# second, rolling back its whole change. The write lock makes that rare; this makes it safe.
# (Two champions cannot exist at all: `aliases` holds one row per name and alias.)
_ONE_MOVE_PER_POSITION = (
    "CREATE UNIQUE INDEX IF NOT EXISTS alias_history_one_move_per_position"
    " ON alias_history (name, alias, position)"
)

# Columns added after the first SQLite schema (phase 1): added in place, with these defaults.
_SQLITE_ADDED_COLUMNS = {
    "versions": {
        "parent_champion": "INTEGER",
        "registered_as": "TEXT NOT NULL DEFAULT 'unknown'",
        "decision_reason": "TEXT NOT NULL DEFAULT 'registered before decisions were recorded'",
        "signature": "TEXT",
    },
    "alias_history": {
        "kind": "TEXT NOT NULL DEFAULT 'policy'",
        "actor": "TEXT NOT NULL DEFAULT 'registry'",
        "position": "INTEGER",
    },
}

# Any constant: every registry process on the database serialises its writes on it.
_WRITE_LOCK = 0x6D6C627573
# Held by the one registry process publishing the outbox (session-long, not per transaction).
_OUTBOX_LOCK = _WRITE_LOCK + 1


class _SqliteConnection:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def run(self, sql: str, params: Sequence[object] = ()) -> None:
        self.db.execute(sql, params)

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        return [tuple(r) for r in self.db.execute(sql, params).fetchall()]

    def row(self, sql: str, params: Sequence[object] = ()) -> Row | None:
        found = self.db.execute(sql, params).fetchone()
        return tuple(found) if found is not None else None


class SqliteDatabase:
    """One SQLite file; a short-lived connection per call, so no connection crosses threads."""

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SQLITE_SCHEMA)
            _add_missing_columns(db)
            db.execute(_ONE_MOVE_PER_POSITION)

    def __repr__(self) -> str:
        return f"SqliteDatabase({str(self.path)!r})"

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            db.execute("PRAGMA foreign_keys = ON")
            yield db
        finally:
            db.close()

    @contextlib.contextmanager
    def connection(self) -> Iterator[Connection]:
        with self._connect() as db:
            yield _SqliteConnection(db)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        # IMMEDIATE takes the write lock up front, so two uploads never get the same version.
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteConnection(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def try_outbox_lease(self) -> Lease | None:
        # A lock on a file beside the database: processes sharing the file share the lock,
        # and the kernel drops it with the process that held it.
        fd = os.open(self.path.with_suffix(".outbox.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return _FileLease(fd)


class _FileLease:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def release(self) -> None:
        os.close(self.fd)  # closing the descriptor drops its lock


def _add_missing_columns(db: sqlite3.Connection) -> None:
    for table, columns in _SQLITE_ADDED_COLUMNS.items():
        present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        for column, definition in columns.items():
            if column not in present:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")


class _PostgresConnection:
    def __init__(self, db: psycopg.Connection[Row]) -> None:
        self.db = db

    @staticmethod
    def _sql(sql: str) -> bytes:
        # The store's SQL has `?` placeholders and no literal `?` or `%`.
        return sql.replace("?", "%s").encode()

    def run(self, sql: str, params: Sequence[object] = ()) -> None:
        self.db.execute(self._sql(sql), params)

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        return self.db.execute(self._sql(sql), params).fetchall()

    def row(self, sql: str, params: Sequence[object] = ()) -> Row | None:
        return self.db.execute(self._sql(sql), params).fetchone()


class PostgresDatabase:
    """A PostgreSQL database by URL; a connection per call (the registry's load is light)."""

    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url
        with self.transaction() as db:  # the lock: replicas starting together create it once
            for statement in (*_POSTGRES_SCHEMA, _ONE_MOVE_PER_POSITION):
                db.run(statement)

    def __repr__(self) -> str:
        return "PostgresDatabase(<url>)"  # the URL may carry a password

    @contextlib.contextmanager
    def connection(self) -> Iterator[Connection]:
        with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as db:
            yield _PostgresConnection(db)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        with (
            psycopg.connect(self.url, autocommit=True, connect_timeout=10) as db,
            db.transaction(),
        ):
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK,))
            yield _PostgresConnection(db)

    def try_outbox_lease(self) -> Lease | None:
        # A session lock on a connection of its own: PostgreSQL drops it if this process dies.
        db = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        try:
            row = db.execute("SELECT pg_try_advisory_lock(%s)", (_OUTBOX_LOCK,)).fetchone()
        except BaseException:
            db.close()
            raise
        if row is None or not row[0]:
            db.close()
            return None
        return _AdvisoryLease(db)


class _AdvisoryLease:
    def __init__(self, db: psycopg.Connection[Row]) -> None:
        self.db = db

    def release(self) -> None:
        with self.db:  # closing the session drops its lock, even if the unlock fails
            self.db.execute("SELECT pg_advisory_unlock(%s)", (_OUTBOX_LOCK,))


def open_database(url: str) -> Database:
    """`sqlite:///path/to/file` or `postgresql://user:password@host:port/database`."""
    if url.startswith("sqlite:///"):
        return SqliteDatabase(Path(url.removeprefix("sqlite:///")))
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(url)
    scheme = url.split(":", 1)[0]
    raise ValueError(f"unsupported database URL scheme {scheme!r}: use sqlite:/// or postgresql://")
