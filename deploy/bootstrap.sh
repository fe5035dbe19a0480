#!/usr/bin/env bash
# Installs the system packages that Fengqiao's stack and tests need and this machine lacks:
# make, Java 17+ and Maven (the local Kafka broker), PostgreSQL, Prometheus with promtool,
# headless Chromium, a CJK font for the dashboard, and Python's venv module. `make test`, `make up` and
# .ci/run call it; a run on a machine that has everything changes nothing and prints one line.
#
#   deploy/bootstrap.sh             install what is missing (as root, with apt), or name the
#                                   command to run and exit 1
#   deploy/bootstrap.sh --check     never install: name what is missing, exit 1 if anything is
#   deploy/bootstrap.sh --describe  one line per real component the tests will use
#
# PYTHON (default python3) is the interpreter whose venv module is checked, as in the Makefile.
set -euo pipefail

PYTHON="${PYTHON:-python3}"
mode="install"
case "${1:-}" in
  "") ;;
  --check) mode="check" ;;
  --describe) mode="describe" ;;
  *)
    echo "usage: $0 [--check|--describe]" >&2
    exit 2
    ;;
esac

# --- detection: each function succeeds when the component is usable ---------------------

java_major() {
  # "17.0.15" -> 17; the old "1.8.0_402" scheme -> 1, which is too old either way.
  java -version 2>&1 | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -n 1
}

have_java() {
  command -v java >/dev/null 2>&1 || return 1
  local major
  major="$(java_major)"
  [ -n "$major" ] && [ "$major" -ge 17 ]
}

# The same names, in the same order, as the browser tests look for (tests/chromium.py).
chromium_path() {
  local name
  for name in chromium chromium-browser google-chrome; do
    if command -v "$name" >/dev/null 2>&1; then
      command -v "$name"
      return 0
    fi
  done
  return 1
}

# Debian keeps the server binaries off the PATH; the PostgreSQL tests look in both places.
initdb_path() {
  local found="" candidate
  for candidate in /usr/lib/postgresql/*/bin/initdb; do
    [ -x "$candidate" ] && found="$candidate"
  done
  [ -n "$found" ] || found="$(command -v initdb 2>/dev/null || true)"
  [ -n "$found" ] && echo "$found"
}

cjk_font() {
  if command -v fc-list >/dev/null 2>&1; then
    fc-list :lang=zh family 2>/dev/null | head -n 1 | cut -d, -f1
  else
    # Without fontconfig's tools, look for the font file that fonts-wqy-microhei installs.
    local file
    for file in /usr/share/fonts/truetype/wqy/*.ttc; do
      [ -f "$file" ] && echo "$file" && return 0
    done
  fi
}

have_python_venv() {
  "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1
}

missing_packages() {
  local need=()
  # make runs everything else; .ci/run calls this script before make, so it can bring make too.
  command -v make >/dev/null 2>&1 || need+=(make)
  have_java || need+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || need+=(maven)
  chromium_path >/dev/null || need+=(chromium)
  if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
    need+=(prometheus)
  fi
  initdb_path >/dev/null || need+=(postgresql)
  [ -n "$(cjk_font)" ] || need+=(fonts-wqy-microhei)
  # the report test renders the yearly PDF's first page to look at it
  command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
  if ! command -v "$PYTHON" >/dev/null 2>&1; then
    need+=(python3 python3-venv)
  elif ! have_python_venv; then
    need+=(python3-venv)
  fi
  echo "${need[*]:-}"
}

# --- describe ------------------------------------------------------------------------------

describe() {
  # The Kafka release is a setting; ask the project's own settings when it is installed.
  local root kafka_version
  root="$(cd "$(dirname "$0")/.." && pwd)"
  kafka_version="$("${VENV:-$root/.venv}/bin/python" -c \
    'from fengqiao.settings import Settings; print(Settings().kafka_version)' 2>/dev/null ||
    echo "${FENGQIAO_KAFKA_VERSION:-(the configured release)}")"
  echo "real components this test run uses:"
  if [ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
    echo "  Kafka       the cluster at ${KAFKA_BOOTSTRAP_SERVERS}"
  else
    echo "  Kafka       Apache Kafka ${kafka_version}, one single-node KRaft broker on a free" \
      "loopback port for the session (Java $(java -version 2>&1 | sed -n 's/.* version "\([^"]*\)".*/\1/p' | head -n 1))"
  fi
  local initdb
  initdb="$(initdb_path || true)"
  echo "  PostgreSQL  $("$initdb" --version 2>/dev/null | awk '{print $3}'), a throwaway server in a temp dir ($(dirname "$initdb"))"
  echo "  Prometheus  $(prometheus --version 2>&1 | awk 'NR==1{print $3}') and promtool: the alert rules and a real scrape"
  local chromium
  chromium="$(chromium_path || true)"
  echo "  Chromium    $("$chromium" --version 2>/dev/null | awk '{for (i=1;i<=NF;i++) if ($i ~ /^[0-9]+\./) print $i}'), headless, for the dashboard (screenshot in test-artifacts/)"
  echo "  CJK font    $(cjk_font)"
  echo "  pdftoppm    $(pdftoppm -v 2>&1 | awk 'NR==1{print $3}'), to render the yearly report's PDF"
}

# --- main ------------------------------------------------------------------------------------

missing="$(missing_packages)"

if [ "$mode" = "describe" ]; then
  if [ -n "$missing" ]; then
    echo "missing system packages: $missing (run deploy/bootstrap.sh)" >&2
    exit 1
  fi
  describe
  exit 0
fi

if [ -z "$missing" ]; then
  echo "all system packages present"
  exit 0
fi

apt_line="apt-get update && apt-get install -y --no-install-recommends $missing"

if [ "$mode" = "check" ]; then
  echo "missing system packages: $missing; would run: $apt_line"
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "This machine lacks $missing and has no apt-get: install them with its package manager" \
    "(on Debian or Ubuntu: $apt_line), then run make again." >&2
  exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "This machine lacks $missing: run \`sudo sh -c '$apt_line'\`, then run make again." >&2
  exit 1
fi

echo "installing system packages: $missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086  # $missing is a list of package names, split on purpose
apt-get install -y -qq --no-install-recommends $missing >/dev/null

still="$(missing_packages)"
if [ -n "$still" ]; then
  echo "apt-get installed $missing, but these are still not usable: $still" >&2
  exit 1
fi
echo "installed: $missing"
