#!/usr/bin/env bash
# Runs the whole test suite. This is the one command CI runs (.ci/run), and the one to
# run before pushing. On a fresh Debian 12 machine with Go it first installs what the
# tests need; once that is done, re-runs skip the installation in well under a second.
#
#   scripts/test.sh                         install, gofmt check, go vet, go test ./...
#   scripts/test.sh -run TestClients ./internal/e2e/
#                                           arguments replace the default "./..." of go test
#
# It installs:
#   * Debian packages (APT_PACKAGES below) with apt-get; "apt-get update" only runs when a
#     package is not known to apt yet or the install fails. Needs root (or sudo).
#   * Go-built tools (GO_TOOLS below) with "go install" into <repo>/.tools/bin, each at a
#     pinned version; a binary already at that version (go version -m) is kept.
# Then: "gofmt -l" must list nothing, "go vet ./..." must pass, and "go test" runs every
# package with WHARF_E2E_REQUIRE=1 (a missing tool fails the end-to-end tests instead of
# skipping them) and WHARF_TOOLS_BIN=<repo>/.tools/bin.
#
# Environment:
#   WHARF_SKIP_INSTALL=1     do not install anything, use what is there
#   WHARF_TEST_TIMEOUT=12m   go test -timeout
#   WHARF_TEST_PARALLEL=2    go test -p (packages tested at once; CI has 2 cores)
#   WHARF_ARTIFACTS=DIR      tests copy their reports there, e.g. DIR/conformance/report.html
#                            (default <repo>/.tools/artifacts)
# Logs of the install steps: <repo>/.tools/logs/. Exit status: 0 only when all passed.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
TOOLS=$ROOT/.tools
TOOLS_BIN=$TOOLS/bin
LOGS=$TOOLS/logs

# Debian packages the tests use. To add one, add a line.
APT_PACKAGES=(
  skopeo podman buildah runc # container clients driven by internal/e2e
  postgresql # a real PostgreSQL server for the store suite (started per test in a temp dir)
  slapd ldap-utils # a real OpenLDAP server for LDAP login (internal/ldaptest, started per test in a temp dir)
  jq curl ca-certificates
  git # go build stamps VCS information from the checkout
  debootstrap # a real Debian root filesystem for the image scanner test (internal/app)
  chromium # headless browser for the web UI tests (internal/e2e, driven with chromedp)
)

# Go tools: installed name, module path (as "go version -m" reports it), package@version.
GO_TOOLS=(
  "crane           github.com/google/go-containerregistry                   github.com/google/go-containerregistry/cmd/crane@v0.22.1"
  "oras            oras.land/oras                                           oras.land/oras/cmd/oras@v1.3.6"
  "regctl          github.com/regclient/regclient                           github.com/regclient/regclient/cmd/regctl@v0.11.7"
  # The OCI distribution-spec conformance runner. The module has no tags; the Go proxy
  # serves only this pseudo-version. Its binary is called "conformance".
  "oci-conformance github.com/opencontainers/distribution-spec/conformance github.com/opencontainers/distribution-spec/conformance@v0.0.0-20260831232431-97274622c111"
  # An S3 server (a gateway over a directory) for the S3 blob store tests.
  "versitygw       github.com/versity/versitygw                             github.com/versity/versitygw/cmd/versitygw@v1.8.0"
  # The CNCF distribution registry, the reference the benchmarks compare against.
  "registry        github.com/distribution/distribution/v3                  github.com/distribution/distribution/v3/cmd/registry@v3.1.2"
)

log() { printf 'test.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# step NAME CMD...: run CMD with its output in $LOGS/NAME.log; on failure show the end of it.
step() {
  local name=$1 t rc
  shift
  t=$(now)
  "$@" >"$LOGS/$name.log" 2>&1
  rc=$?
  if ((rc == 0)); then
    log "  ok   $name ($(since "$t")s)"
  else
    log "  FAIL $name ($(since "$t")s, exit $rc), log: $LOGS/$name.log"
    tail -n 20 "$LOGS/$name.log" | sed 's/^/       /' >&2
  fi
  return $rc
}

install_apt() {
  local missing=() p sudo=() need_update=0
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get to install them"
  if ((EUID != 0)); then
    command -v sudo >/dev/null || die "missing packages ${missing[*]}; run as root (or install sudo)"
    sudo=(sudo)
  fi
  log "apt: installing ${missing[*]}"
  for p in "${missing[@]}"; do
    apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [0-9]' || need_update=1
  done
  local install=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}")
  if ((need_update)); then
    step apt-update "${sudo[@]}" apt-get update || return 1
    step apt-install "${install[@]}"
  else
    # the package lists may be stale (mirror moved on): update once and retry
    step apt-install "${install[@]}" ||
      { step apt-update "${sudo[@]}" apt-get update && step apt-install "${install[@]}"; }
  fi
}

# modversion BIN MODULE: the version of MODULE that BIN was built from ("" if none).
modversion() {
  go version -m "$1" 2>/dev/null | awk -v m="$2" '$1 == "mod" && $2 == m { print $3; exit }'
}

install_go_tools() {
  local line name mod pkg ver stage failed=0
  for line in "${GO_TOOLS[@]}"; do
    read -r name mod pkg <<<"$line"
    ver=${pkg##*@}
    if [[ -x $TOOLS_BIN/$name && $(modversion "$TOOLS_BIN/$name" "$mod") == "$ver" ]]; then
      continue
    fi
    log "go: installing $name $ver"
    # install into a staging directory, then move into place under the name we use
    stage=$(mktemp -d "$TOOLS/stage.XXXXXX") || return 1
    if step "go-install-$name" env GOBIN="$stage" go install "$pkg"; then
      local built=$stage/$(basename "${pkg%@*}")
      if [[ -x $built ]]; then
        mv -f "$built" "$TOOLS_BIN/$name" || failed=1
      else
        log "  FAIL $name: go install produced no $(basename "$built")"
        failed=1
      fi
    else
      failed=1
    fi
    rm -rf "$stage"
  done
  return $failed
}

T0=$(now)
command -v go >/dev/null || die "go is not on PATH"
mkdir -p "$TOOLS_BIN" "$LOGS" || exit 2

if [[ ${WHARF_SKIP_INSTALL:-0} != 1 ]]; then
  install_apt || die "installing Debian packages failed"
  install_go_tools || die "installing Go tools failed"
  log "install: done in $(since "$T0")s"
fi
versions=""
for line in "${GO_TOOLS[@]}"; do
  read -r name mod _ <<<"$line"
  [[ -x $TOOLS_BIN/$name ]] && versions+="${versions:+, }$name $(modversion "$TOOLS_BIN/$name" "$mod")"
done
log "tools in .tools/bin: ${versions:-none}"

# gofmt: every Go file outside tool, build and data directories
log "gofmt -l"
mapfile -d '' gofiles < <(find . \( -path ./.git -o -path ./.tools -o -path ./bin -o -path ./wharf-data -o -name testdata -o -name node_modules \) -prune \
  -o -type f -name '*.go' -print0)
if ((${#gofiles[@]})); then
  unformatted=$(gofmt -l "${gofiles[@]}") || die "gofmt failed"
  if [[ -n $unformatted ]]; then
    log "these files need gofmt -w:"
    sed 's/^/  /' <<<"$unformatted" >&2
    exit 1
  fi
fi

log "go vet ./..."
go vet ./... || { log "FAIL: go vet"; exit 1; }

export WHARF_E2E_REQUIRE=1 WHARF_TOOLS_BIN=$TOOLS_BIN
export WHARF_ARTIFACTS=${WHARF_ARTIFACTS:-$TOOLS/artifacts}
export PATH=$TOOLS_BIN:$PATH # the pinned tools win over other installed versions
args=("$@")
((${#args[@]})) || args=(./...)
log "go test ${args[*]}"
# -count=1: the end-to-end tests run a freshly built server binary and external tools,
# inputs go's test cache does not see, so cached results could be stale.
go test -count=1 -p "${WHARF_TEST_PARALLEL:-2}" -timeout "${WHARF_TEST_TIMEOUT:-12m}" "${args[@]}"
rc=$?
if ((rc == 0)); then
  log "PASS ($(since "$T0")s)"
else
  log "FAIL ($(since "$T0")s)"
fi
exit $rc
