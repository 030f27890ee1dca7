#!/usr/bin/env bash
# Deploys a build on the host: stages the new binary where the candidate colour's `prepare`
# installs it from, checks that it runs, then hands over to `dimby deploy run`, which does the rest
# (start the candidate in standby, gate, cut over, watch, promote or roll back; the ledger). Run ON
# THE HOST, by .github/workflows/deploy.yml over ssh or by hand; it needs no checkout, only
# scripts/lib/secrets-env.sh beside it (as lib/secrets-env.sh or secrets-env.sh).
#
#   scripts/ci_deploy.sh [--config PATH] [--out DIR] BINARY VERSION COMMIT
#
# BINARY    the new build (the production binary: --no-default-features --features profiling)
# VERSION   the version the ledger records, e.g. 1.4.0
# COMMIT    the commit it was built from, e.g. $(git rev-parse --short=12 HEAD)
# --config  the config with the [deploy.blue] / [deploy.green] slots (default: $DIMBY_CONFIG, else
#           /etc/dimby/dimby.toml when it exists)
# --out     where deploy-summary.md and deploy-report.json go (default: the current directory)
#
# Environment:
#   DIMBY_DEPLOY_INCOMING  where the build is staged (default /opt/dimby/incoming/dimby); the
#                          slots' `prepare` copies it into the candidate colour's binary path
#   DIMBY_DEPLOY_ENV_FILE  KEY=VALUE lines loaded first if the file exists, as systemd's
#                          EnvironmentFile= would (default /etc/dimby/secrets.env: the admin
#                          token, the alert webhook)
#
# Exit code: `dimby deploy run`'s (0 only when the build was promoted), or 2 for a wrong call and
# 3 when the build could not be staged. See docs/runbooks/deploys.md, "From GitHub Actions".
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

usage() {
  echo "usage: $0 [--config PATH] [--out DIR] BINARY VERSION COMMIT" >&2
  exit 2
}
die() {
  echo "ci_deploy: $*" >&2
  exit 3
}

config="${DIMBY_CONFIG:-}"
out="."
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --config)
      [ $# -ge 2 ] || usage
      config="$2"
      shift 2
      ;;
    --out)
      [ $# -ge 2 ] || usage
      out="$2"
      shift 2
      ;;
    -h | --help) usage ;;
    -*) echo "ci_deploy: unknown option $1" >&2; usage ;;
    *) args+=("$1"); shift ;;
  esac
done
[ ${#args[@]} -eq 3 ] || usage
bin="${args[0]}" version="${args[1]}" commit="${args[2]}"
[ -n "$version" ] || { echo "ci_deploy: VERSION is empty" >&2; usage; }
[ -n "$commit" ] || { echo "ci_deploy: COMMIT is empty" >&2; usage; }
[ -f "$bin" ] || die "no binary at $bin"
if [ -z "$config" ] && [ -f /etc/dimby/dimby.toml ]; then
  config=/etc/dimby/dimby.toml
fi
if [ -n "$config" ] && [ ! -r "$config" ]; then
  die "cannot read the config $config"
fi

# The secrets the deploy needs (admin token, alert webhook) as the units get them, nothing
# evaluated: load_env_file, from scripts/lib/secrets-env.sh (in a checkout, lib/ beside this script;
# on the host, where scripts/ci_remote.sh copies every file into one directory, beside it).
here="$(dirname "$0")"
if [ -f "$here/lib/secrets-env.sh" ]; then
  # shellcheck source=lib/secrets-env.sh
  . "$here/lib/secrets-env.sh"
elif [ -f "$here/secrets-env.sh" ]; then
  # shellcheck source=lib/secrets-env.sh
  . "$here/secrets-env.sh"
else
  die "no lib/secrets-env.sh or secrets-env.sh beside $0 (scripts/lib/secrets-env.sh: copy it along)"
fi
load_env_file "${DIMBY_DEPLOY_ENV_FILE:-/etc/dimby/secrets.env}"

# Stage the build: copied beside the incoming path, then renamed over it, so that nothing ever
# reads a half-written binary.
incoming="${DIMBY_DEPLOY_INCOMING:-/opt/dimby/incoming/dimby}"
mkdir -p "$(dirname "$incoming")" || die "cannot create $(dirname "$incoming")"
# One deploy or rollback at a time on this host (scripts/ci_rollback.sh takes the same lock).
lock="$(dirname "$incoming")/.deploy.lock"
exec 9>>"$lock" || die "cannot open the lock $lock"
flock -n 9 || die "another deploy or rollback holds $lock"
if [ "$(realpath "$bin")" != "$(realpath -m "$incoming")" ]; then
  staging="$incoming.staging.$$"
  install -m 0755 "$bin" "$staging" || die "cannot write $staging"
  mv -f "$staging" "$incoming" || { rm -f "$staging"; die "cannot move the build to $incoming"; }
fi
built="$("$incoming" --version 2>&1)" || die "the staged build does not run: $incoming --version said: $built"
echo "ci_deploy: staged $incoming: $built"
case "$built" in
  *"(commit $commit)"*) ;;
  *) echo "ci_deploy: warning: the build does not name commit $commit ($built)" >&2 ;;
esac

mkdir -p "$out" || die "cannot create $out"
summary="$out/deploy-summary.md"
report="$out/deploy-report.json"
rm -f "$summary" "$report"
run=("$incoming" deploy run --version "$version" --commit "$commit" --summary "$summary" --report "$report")
if [ -n "$config" ]; then
  run+=(--config "$config")
fi
echo "ci_deploy: ${run[*]}"
code=0
"${run[@]}" 9>&- || code=$?
if [ ! -f "$summary" ]; then
  # dimby deploy run stopped before its summary (a config it refused, an unreachable store, ...):
  # say so where the summary would be; its error is on stderr, in the job's log.
  {
    echo "## Deploy of $version ($commit): no summary"
    echo
    echo "\`dimby deploy run\` exited with code $code without writing its summary; its error is in the log."
  } >"$summary"
fi
exit "$code"
