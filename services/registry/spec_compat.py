"""When a new version of a data set's spec is compatible with the one before it.

A new version is compatible when every record valid under the old spec is still valid under
the new one and means the same, so models, buffers and references of the old version go on:

- the record id field, the target's name and its task are unchanged;
- no feature is removed or retyped, and none that accepted nulls stops accepting them;
- a new feature is nullable (records written before it do not carry it);
- categories, classes and aliases are only added (an alias keeps what it points at);
- bounds (min, max) of features and of a regression target are only widened.

Anything else needs a new major version (PUT /specs/{name}?major=true).
"""

from __future__ import annotations

from contracts import (
    CategoricalFeature,
    ClassificationTarget,
    DatasetSpec,
    Feature,
    IntegerFeature,
    NumericFeature,
    RegressionTarget,
)

Bounded = NumericFeature | IntegerFeature | RegressionTarget


def incompatibilities(old: DatasetSpec, new: DatasetSpec) -> list[str]:
    """Every reason `new` cannot follow `old` in the same major version; empty if it can."""
    reasons = _target_changes(old, new)
    old_features = {f.name: f for f in old.features}
    for feature in new.features:
        before = old_features.pop(feature.name, None)
        if before is None:
            if not feature.nullable:
                reasons.append(f"new feature {feature.name!r} must be nullable")
            continue
        reasons.extend(_feature_changes(before, feature))
    reasons.extend(f"feature {name!r} removed" for name in old_features)
    return reasons


def _target_changes(old: DatasetSpec, new: DatasetSpec) -> list[str]:
    reasons = []
    if new.record_id_field != old.record_id_field:
        reasons.append(
            f"record id field changed from {old.record_id_field!r} to {new.record_id_field!r}"
        )
    if new.target.name != old.target.name:
        reasons.append(f"target renamed from {old.target.name!r} to {new.target.name!r}")
    if new.target.task != old.target.task:
        reasons.append(f"target task changed from {old.target.task} to {new.target.task}")
    elif isinstance(old.target, ClassificationTarget):
        assert isinstance(new.target, ClassificationTarget)  # same task
        what = f"target {new.target.name!r}"
        reasons.extend(_removed(what, "classes", old.target.classes, new.target.classes))
        reasons.extend(_aliases_changed(what, old.target.aliases, new.target.aliases))
    else:
        assert isinstance(new.target, RegressionTarget)  # same task
        reasons.extend(_narrowed(f"target {new.target.name!r}", old.target, new.target))
    return reasons


def _feature_changes(old: Feature, new: Feature) -> list[str]:
    what = f"feature {new.name!r}"
    if new.type != old.type:
        return [f"{what} retyped from {old.type} to {new.type}"]
    reasons = [f"{what} no longer nullable"] if old.nullable and not new.nullable else []
    if isinstance(old, CategoricalFeature):
        assert isinstance(new, CategoricalFeature)  # same type
        reasons.extend(_removed(what, "categories", old.categories, new.categories))
        reasons.extend(_aliases_changed(what, old.aliases, new.aliases))
    elif isinstance(old, NumericFeature | IntegerFeature):
        assert isinstance(new, NumericFeature | IntegerFeature)
        reasons.extend(_narrowed(what, old, new))
    return reasons


def _removed(what: str, kind: str, old: tuple[str, ...], new: tuple[str, ...]) -> list[str]:
    gone = [value for value in old if value not in new]
    return [f"{what}: {kind} removed: {gone}"] if gone else []


def _aliases_changed(what: str, old: dict[str, str], new: dict[str, str]) -> list[str]:
    changed = sorted(alias for alias, target in old.items() if new.get(alias) != target)
    return [f"{what}: aliases removed or repointed: {changed}"] if changed else []


def _narrowed(what: str, old: Bounded, new: Bounded) -> list[str]:
    """Reasons the bounds of `new` exclude a value that those of `old` allowed."""
    reasons = []
    if new.min is not None and (old.min is None or new.min > old.min):
        reasons.append(f"{what}: min raised from {old.min} to {new.min}")
    if new.max is not None and (old.max is None or new.max < old.max):
        reasons.append(f"{what}: max lowered from {old.max} to {new.max}")
    return reasons
