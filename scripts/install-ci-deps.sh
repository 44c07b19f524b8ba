#!/usr/bin/env bash
# What the tests need beyond Python packages, installed only when missing (safe to run again;
# `make test` runs it first, and says here what it installs):
#   promtool and prometheus (Debian package `prometheus`) for the deploy and dashboard tests,
#   PostgreSQL and Chromium, Java 17+ and Maven for the
#   Apache Kafka broker, then the Kafka jars themselves, resolved once into ~/.cache/mlbus;
#   kcat (librdkafka's CLI) for the end-to-end test of plain Kafka + JSON on the default broker;
#   SeaweedFS (built from the Go module proxy) for the registry's S3 artifact-store tests;
#   helm (Go module proxy, `go install`, needs Go) into ~/.cache/mlbus/bin for tests/chart.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

missing=()
{ command -v promtool && command -v prometheus; } >/dev/null 2>&1 || missing+=(prometheus)
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
# A real PostgreSQL for the registry's SQL tests, headless Chromium for the drift report page.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v kcat >/dev/null 2>&1 || missing+=(kcat)

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-ci-deps: system packages present (prometheus, java, maven, postgresql, chromium)"
else
  echo "install-ci-deps: installing the missing system packages: apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

java -version 2>&1 | head -n 1
promtool --version 2>&1 | head -n 1
kcat -V 2>&1 | head -n 1
# The registry tests start their own throwaway PostgreSQL cluster from these binaries (as the
# `postgres` user when run as root): nothing to start here, only check that they run.
"$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/postgres" --version

# The broker module needs only the standard library: the venv's Python if it exists already,
# the system's (3.11+) otherwise.
python=python3
if [ -x .venv/bin/python ]; then
  python=.venv/bin/python
fi
echo "install-ci-deps: Kafka jars in $(PYTHONPATH=. "$python" -m mlbus.brokers fetch-kafka)"

# SeaweedFS (`weed`), the S3-compatible server of the registry's object-storage tests, built
# once from the Go module proxy into ~/.cache/mlbus/bin (a few minutes on two cores).
# `go install module@version` refuses this module (its go.mod has replace directives), so
# the module is downloaded and built in place. MLBUS_TEST_WEED may name another binary.
WEED_MODULE=github.com/seaweedfs/seaweedfs
WEED_VERSION=v0.0.0-20261109003541-7506e5f91cd6
weed_bin="$HOME/.cache/mlbus/bin/weed"
if [ ! -x "$weed_bin" ]; then
  if ! command -v go >/dev/null 2>&1; then
    echo "install-ci-deps: installing Go for SeaweedFS: apt-get install golang-go"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends golang-go >/dev/null
  fi
  echo "install-ci-deps: building SeaweedFS $WEED_VERSION into $weed_bin"
  mkdir -p "$(dirname "$weed_bin")"
  weed_src="$(go mod download -json "$WEED_MODULE@$WEED_VERSION" | "$python" -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')"
  (cd "$weed_src" && go build -trimpath -o "$weed_bin.tmp" ./weed)
  mv "$weed_bin.tmp" "$weed_bin"
fi
echo "install-ci-deps: SeaweedFS $("$weed_bin" version 2>&1 | head -n 1)"

# helm for the chart tests (tests/chart), built from the Go module proxy at a pinned release
# into ~/.cache/mlbus/bin, where the tests look for it; only when that binary is missing.
HELM_VERSION=v4.3.2
helm_bin="$HOME/.cache/mlbus/bin"
if [ ! -x "$helm_bin/helm" ]; then
  command -v go >/dev/null 2>&1 || { echo "install-ci-deps: helm needs Go (https://go.dev/dl/)" >&2; exit 1; }
  echo "install-ci-deps: installing helm $HELM_VERSION: go install helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
  mkdir -p "$helm_bin"
  GOBIN="$helm_bin" go install "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
fi
"$helm_bin/helm" version --short
