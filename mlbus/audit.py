"""`python -m mlbus.audit REQUIREMENTS`: known vulnerabilities in the locked pins (`make audit`).

pip-audit needs PyPI's per-version JSON or OSV, which CI's network does not serve. PyPI's
project JSON does answer, with the advisories (OSV, PYSEC, GHSA) of the latest release only.
So a pin at the latest release is audited; an older pin is only checked against the latest's
advisories and otherwise reported as not audited (a warning); a failed lookup fails the audit.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

PROJECT_JSON = "https://pypi.org/pypi/{name}/json"
CONCURRENCY = 8
ATTEMPTS = 3
RETRY_DELAY_S = 1.0
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)\s*(?:;\s*(.+?))?\s*$")


class LookupFailed(Exception):
    """A project could not be looked up, so its pins are not audited."""


@dataclass(frozen=True)
class Pin:
    """One `name==version ; marker` line of the exported requirements."""

    name: str
    version: str
    marker: str = ""

    @property
    def project(self) -> str:
        return canonicalize_name(self.name)


@dataclass(frozen=True)
class Advisory:
    """A non-withdrawn vulnerability record that PyPI lists for a project's latest release."""

    id: str
    aliases: tuple[str, ...]
    fixed_in: tuple[str, ...]
    link: str


@dataclass(frozen=True)
class Project:
    """What PyPI's project JSON says about the latest release."""

    latest: str
    requires_python: str
    advisories: tuple[Advisory, ...]


@dataclass(frozen=True)
class Finding:
    """The verdict on one pin: audited or not, advisories that reach it, or why lookup failed."""

    pin: Pin
    project: Project | None
    advisories: tuple[Advisory, ...] = ()
    ignored: tuple[tuple[Advisory, str], ...] = ()
    error: str = ""

    @property
    def audited(self) -> bool:
        return self.project is not None and same_version(self.pin.version, self.project.latest)


def version_key(version: str) -> Version | None:
    """The PEP 440 version without its local label (1.0+cpu is the 1.0 release as far as
    advisories go); None when it is not a PEP 440 version."""
    try:
        return Version(Version(version.strip()).public)
    except InvalidVersion:
        return None


def same_version(left: str, right: str) -> bool:
    left_key, right_key = version_key(left), version_key(right)
    if left_key is None or right_key is None:
        return left == right
    return left_key == right_key


def reaches(advisory: Advisory, pin: Pin, latest: str) -> bool:
    """Whether an advisory of the latest release also applies to the pin (when unsure: yes)."""
    if same_version(pin.version, latest) or not advisory.fixed_in:
        return True
    pinned = version_key(pin.version)
    fixed = [version_key(version) for version in advisory.fixed_in]
    if pinned is None or any(key is None for key in fixed):
        return True
    return any(key > pinned for key in fixed if key is not None)


def parse_requirements(text: str) -> list[Pin]:
    """The pins of a `uv export` file; anything else cannot be audited and is refused."""
    pins: list[Pin] = []
    refused: list[str] = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        match = _PIN.match(line)
        if match is None:
            refused.append(line)
            continue
        pins.append(Pin(match[1], match[2], match[3] or ""))
    if refused:
        raise ValueError(f"not a pinned requirement, cannot audit: {'; '.join(refused)}")
    if not pins:
        raise ValueError("no pinned requirements: auditing nothing is not a pass")
    return pins


def parse_ignores(text: str) -> dict[str, str]:
    """`ID reason...` per line (like pip-audit's --ignore-vuln); a reason is required."""
    ignores: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        vuln_id, _, reason = line.partition(" ")
        if not reason.strip():
            raise ValueError(f"ignored vulnerability {vuln_id} needs a reason")
        ignores[vuln_id] = reason.strip()
    return ignores


def read_project(data: Any) -> Project:
    """The latest version and its live advisories; a payload without them is a lookup failure."""
    try:
        info, records = data["info"], data["vulnerabilities"]
        latest = str(info.get("version") or "")
        if not latest or not isinstance(records, list):
            raise TypeError("no latest version or no vulnerability list")
        live = [_advisory(record) for record in records if not record.get("withdrawn")]
    except (KeyError, TypeError, AttributeError) as exc:
        raise LookupFailed(f"unexpected project JSON: {exc!r}") from exc
    return Project(latest, str(info.get("requires_python") or ""), _distinct(live))


def _distinct(advisories: Iterable[Advisory]) -> tuple[Advisory, ...]:
    """One record per vulnerability: PyPI lists a PYSEC and a GHSA record that alias each other."""
    kept: list[Advisory] = []
    seen: set[str] = set()
    for advisory in advisories:
        if seen.isdisjoint(_names(advisory)):
            kept.append(advisory)
        seen.update(_names(advisory))
    return tuple(kept)


def _advisory(record: Mapping[str, Any]) -> Advisory:
    return Advisory(
        id=str(record["id"]),
        aliases=tuple(str(alias) for alias in record.get("aliases") or ()),
        fixed_in=tuple(str(version) for version in record.get("fixed_in") or ()),
        link=str(record.get("link") or ""),
    )


def classify(pin: Pin, project: Project | str, ignores: Mapping[str, str]) -> Finding:
    """The finding for one pin, given its project or the reason its lookup failed."""
    if isinstance(project, str):
        return Finding(pin, None, error=project)
    applying = [
        advisory for advisory in project.advisories if reaches(advisory, pin, project.latest)
    ]
    ignored = [
        (advisory, reason) for advisory in applying if (reason := _ignored(advisory, ignores))
    ]
    live = tuple(advisory for advisory in applying if not _ignored(advisory, ignores))
    return Finding(pin, project, live, tuple(ignored))


def _names(advisory: Advisory) -> tuple[str, ...]:
    return (advisory.id, *advisory.aliases)


def _ignored(advisory: Advisory, ignores: Mapping[str, str]) -> str:
    for vuln_id in _names(advisory):
        if vuln_id in ignores:
            return ignores[vuln_id]
    return ""


async def fetch_project(client: httpx.AsyncClient, name: str, retry_delay: float) -> Project:
    """One project's JSON, retried on network errors, 429 and 5xx; a 404 fails at once."""
    url = PROJECT_JSON.format(name=name)
    for attempt in range(1, ATTEMPTS + 1):
        try:
            response = await client.get(url)
        except httpx.TransportError as exc:
            problem = f"{type(exc).__name__}: {exc} ({url})"
        else:
            if response.status_code == 200:
                return read_project(_json(response, url))
            problem = f"HTTP {response.status_code} from {url}"
            if response.status_code < 500 and response.status_code != 429:
                break
        if attempt < ATTEMPTS:
            await asyncio.sleep(retry_delay * attempt)
    raise LookupFailed(problem)


def _json(response: httpx.Response, url: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise LookupFailed(f"not JSON from {url}: {exc}") from exc


async def fetch_projects(
    client: httpx.AsyncClient, names: Iterable[str], limit: int, retry_delay: float
) -> dict[str, Project | str]:
    """Every project at most `limit` at a time; a failure is kept as its reason."""
    gate = asyncio.Semaphore(limit)

    async def one(name: str) -> Project | str:
        async with gate:
            try:
                return await fetch_project(client, name, retry_delay)
            except LookupFailed as exc:
                return str(exc)

    unique = sorted(set(names))
    results = await asyncio.gather(*(one(name) for name in unique))
    return dict(zip(unique, results, strict=True))


async def audit(
    pins: Sequence[Pin],
    ignores: Mapping[str, str],
    client: httpx.AsyncClient,
    limit: int = CONCURRENCY,
    retry_delay: float = RETRY_DELAY_S,
) -> list[Finding]:
    projects = await fetch_projects(client, (pin.project for pin in pins), limit, retry_delay)
    return [classify(pin, projects[pin.project], ignores) for pin in pins]


def report(findings: Sequence[Finding], ignores: Mapping[str, str]) -> tuple[list[str], int]:
    """Lines to print and the exit code: 1 on any vulnerable pin or failed lookup."""
    lines = [line for finding in findings for line in _lines(finding)]
    matched = {name for f in findings for advisory, _ in f.ignored for name in _names(advisory)}
    stale = [vuln_id for vuln_id in ignores if vuln_id not in matched]
    lines += [f"note: ignore entry {vuln_id} matched no advisory" for vuln_id in stale]
    failed = sum(1 for finding in findings if finding.project is None)
    vulnerable = sum(1 for finding in findings if finding.advisories)
    audited = sum(1 for finding in findings if finding.audited)
    not_audited = len(findings) - audited - failed
    lines.append(
        f"audited {audited}, vulnerable {vulnerable}, not audited {not_audited}, "
        f"lookup failed {failed} (of {len(findings)} pins)"
    )
    return lines, 1 if failed or vulnerable else 0


def _lines(finding: Finding) -> list[str]:
    pin, project = finding.pin, finding.project
    where = f"{pin.name} {pin.version}" + (f" [{pin.marker}]" if pin.marker else "")
    if project is None:
        return [f"{where}: lookup failed: {finding.error}"]
    lines = [f"{where}: VULNERABLE {_describe(advisory)}" for advisory in finding.advisories]
    lines += [f"{where}: ignored {advisory.id}: {why}" for advisory, why in finding.ignored]
    if not finding.audited:
        needs = (
            f", which requires Python {project.requires_python}" if project.requires_python else ""
        )
        lines.append(
            f"warning: {where}: not audited (pin {pin.version}, latest {project.latest}{needs})"
        )
    return lines


def _describe(advisory: Advisory) -> str:
    aliases = ", ".join(advisory.aliases) or "no aliases"
    fixed = ", ".join(advisory.fixed_in) or "no fix released"
    return f"{advisory.id} ({aliases}); fixed in: {fixed}; {advisory.link}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mlbus.audit", description=__doc__)
    parser.add_argument("requirements", type=Path, help="`uv export --no-hashes` output")
    parser.add_argument("--ignore-file", type=Path, default=Path(".audit-ignore"))
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    try:
        pins = parse_requirements(args.requirements.read_text())
        exists = args.ignore_file.exists()
        ignores = parse_ignores(args.ignore_file.read_text()) if exists else {}
    except (OSError, ValueError) as exc:
        print(f"audit: {exc}", file=sys.stderr)
        return 1
    async with httpx.AsyncClient(timeout=30, follow_redirects=True) as client:
        findings = await audit(pins, ignores, client, args.concurrency)
    lines, code = report(findings, ignores)
    print("\n".join(lines))
    return code


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
