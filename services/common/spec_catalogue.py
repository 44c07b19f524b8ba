"""The data sets a service knows: the spec it started with, then every one the registry announces.

The registry announces each new version of a data set's spec as a SpecRegistered event on the
compacted topic registry.specs.v1 (keyed by data set). A service reads that topic from its
start before it consumes anything (services.common.spec_feed) and follows it while it runs,
so a data set registered at run time is served without a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from contracts import DatasetSpec, SpecRegistered

log = logging.getLogger(__name__)

# A local spec (from the service's settings) ranks below every registered version.
LOCAL_VERSION = 0


@dataclass(frozen=True)
class KnownSpec:
    """One data set's current spec, with the registry's version and major (0: not registered)."""

    spec: DatasetSpec
    version: int = LOCAL_VERSION
    major: int = LOCAL_VERSION

    @property
    def dataset(self) -> str:
        return self.spec.name


Listener = Callable[[KnownSpec, KnownSpec | None], None]  # (now, before)


class SpecCatalogue:
    """The latest spec of each known data set; `default` serves records that name none."""

    def __init__(self, default: DatasetSpec) -> None:
        self._default = default.name
        self._known: dict[str, KnownSpec] = {default.name: KnownSpec(default)}
        self._listeners: list[Listener] = []

    @property
    def default(self) -> KnownSpec:
        return self._known[self._default]

    def get(self, dataset: str | None) -> KnownSpec | None:
        """The data set's current spec (the default for None); None for an unknown data set."""
        return self._known.get(self._default if dataset is None else dataset)

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._known))

    def __len__(self) -> int:
        return len(self._known)

    def on_change(self, listener: Listener) -> None:
        """Call `listener(now, before)` for each data set added or moved to a new version."""
        self._listeners.append(listener)

    def learn(self, event: SpecRegistered) -> bool:
        """Take a registered version; False (and nothing changes) when it is not newer."""
        if event.spec.name != event.dataset:
            log.warning("spec catalogue: %s v%d names %r; ignored", *_about(event), event.spec.name)
            return False
        before = self._known.get(event.dataset)
        if before is not None and event.version <= before.version:
            return False  # a replay of the topic, or a late copy
        now = KnownSpec(event.spec, event.version, event.major)
        self._known[event.dataset] = now
        log.info("spec catalogue: %s v%d (major %d) known", event.dataset, now.version, now.major)
        for listener in self._listeners:
            listener(now, before)
        return True


def _about(event: SpecRegistered) -> tuple[str, int]:
    return event.dataset, event.version
