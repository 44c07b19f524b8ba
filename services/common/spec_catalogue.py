"""The data sets a service knows: the spec it started with, then every one the registry announces.

The registry announces each new version of a data set's spec as a SpecRegistered event on the
compacted topic registry.specs.v1 (keyed by data set). A service reads that topic from its
start before it consumes anything (services.common.spec_feed) and follows it while it runs,
so a data set registered at run time is served without a restart.

A SpecRetired event retires a data set (its records are dead-lettered); a SpecRegistered with a
higher version brings it back. A retirement is kept even for a data set whose spec is not known
(compaction may have removed its SpecRegistered events): its records still say why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from contracts import SpecRetired

if TYPE_CHECKING:
    from contracts import DatasetSpec, SpecEvent, SpecRegistered

log = logging.getLogger(__name__)

# A local spec (from the service's settings) ranks below every registered version.
LOCAL_VERSION = 0


@dataclass(frozen=True)
class KnownSpec:
    """One data set's current spec, with the registry's version and major (0: not registered)."""

    spec: DatasetSpec
    version: int = LOCAL_VERSION
    major: int = LOCAL_VERSION
    retired: bool = False

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
        self._retirements: dict[str, SpecRetired] = {}

    @property
    def default(self) -> KnownSpec:
        return self._known[self._default]

    def get(self, dataset: str | None) -> KnownSpec | None:
        """The data set's current spec (the default for None); None for an unknown data set."""
        return self._known.get(self._default if dataset is None else dataset)

    def retirement(self, dataset: str | None) -> SpecRetired | None:
        """Why and since when the data set is retired (the default for None); None: it is not."""
        return self._retirements.get(self._default if dataset is None else dataset)

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._known))

    def __len__(self) -> int:
        return len(self._known)

    def on_change(self, listener: Listener) -> None:
        """Call `listener(now, before)` for each data set added or moved to a new version."""
        self._listeners.append(listener)

    def learn(self, event: SpecEvent) -> bool:
        """Take a spec event; False (and nothing changes) when it is not newer."""
        if isinstance(event, SpecRetired):
            return self._retire(event)
        return self._register(event)

    def _register(self, event: SpecRegistered) -> bool:
        """Take a registered version; False (and nothing changes) when it is not newer."""
        if event.spec.name != event.dataset:
            log.warning("spec catalogue: %s v%d names %r; ignored", *_about(event), event.spec.name)
            return False
        before = self._known.get(event.dataset)
        if before is not None and event.version <= before.version:
            return False  # a replay of the topic, or a late copy
        retirement = self._retirements.get(event.dataset)
        still_retired = retirement is not None and retirement.version >= event.version
        if retirement is not None and not still_retired:
            del self._retirements[event.dataset]  # registered again after its retirement
            log.info("spec catalogue: %s back after its retirement", event.dataset)
        now = KnownSpec(event.spec, event.version, event.major, retired=still_retired)
        self._known[event.dataset] = now
        log.info("spec catalogue: %s v%d (major %d) known", event.dataset, now.version, now.major)
        self._tell(now, before)
        return True

    def _retire(self, event: SpecRetired) -> bool:
        """Take a retirement; False when it is older than the data set's known version."""
        before = self._known.get(event.dataset)
        if before is not None and event.version < before.version:
            return False  # registered again since: a replay of the topic
        if event.dataset in self._retirements:
            return False
        self._retirements[event.dataset] = event
        log.info("spec catalogue: %s retired: %s", event.dataset, event.reason)
        if before is not None:
            now = replace(before, retired=True)
            self._known[event.dataset] = now
            self._tell(now, before)
        return True

    def _tell(self, now: KnownSpec, before: KnownSpec | None) -> None:
        for listener in self._listeners:
            listener(now, before)


def _about(event: SpecRegistered) -> tuple[str, int]:
    return event.dataset, event.version
