#!/usr/bin/env bash
# Rolls back on the host: `dimby deploy rollback` (the other colour takes the sessions over,
# started in standby first if it does not run), then `dimby deploy status` and the last deploys,
# written into a Markdown summary. Run ON THE HOST, by .github/workflows/rollback.yml over ssh or
# by hand; it needs no checkout, only scripts/lib/secrets-env.sh beside it (as lib/secrets-env.sh or
# secrets-env.sh).
#
#   scripts/ci_rollback.sh [--config PATH] [--out DIR]
#
# --config  the config with the [deploy.blue] / [deploy.green] slots (default: $DIMBY_CONFIG, else
#           /etc/dimby/dimby.toml when it exists)
# --out     where rollback-summary.md goes (default: the current directory); it is also appended
#           to $GITHUB_STEP_SUMMARY when that is set
#
# Environment:
#   DIMBY_BIN              the dimby to run; default: the first that runs of the staged build
#                          (DIMBY_DEPLOY_INCOMING, /opt/dimby/incoming/dimby), then the colours'
#                          (DIMBY_DEPLOY_ROOT, /opt/dimby, + /blue/dimby, /green/dimby)
#   DIMBY_DEPLOY_ENV_FILE  KEY=VALUE lines loaded first if the file exists, as systemd's
#                          EnvironmentFile= would (default /etc/dimby/secrets.env)
#
# Exit code: `dimby deploy rollback`'s (0 when the other colour serves), or 2 for a wrong call and
# 3 when no dimby runs. See docs/runbooks/deploys.md, "From GitHub Actions".
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

usage() {
  echo "usage: $0 [--config PATH] [--out DIR]" >&2
  exit 2
}
die() {
  echo "ci_rollback: $*" >&2
  exit 3
}

config="${DIMBY_CONFIG:-}"
out="."
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
    *) echo "ci_rollback: unexpected argument $1" >&2; usage ;;
  esac
done
if [ -z "$config" ] && [ -f /etc/dimby/dimby.toml ]; then
  config=/etc/dimby/dimby.toml
fi
if [ -n "$config" ] && [ ! -r "$config" ]; then
  die "cannot read the config $config"
fi

# The secrets (admin token) as the units get them, nothing evaluated: load_env_file, from
# scripts/lib/secrets-env.sh (in a checkout, lib/ beside this script; on the host, where
# scripts/ci_remote.sh copies every file into one directory, beside it).
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

incoming="${DIMBY_DEPLOY_INCOMING:-/opt/dimby/incoming/dimby}"
root="${DIMBY_DEPLOY_ROOT:-/opt/dimby}"
if [ -n "${DIMBY_BIN:-}" ]; then
  candidates=("$DIMBY_BIN")
else
  candidates=("$incoming" "$root/blue/dimby" "$root/green/dimby")
fi
bin=""
for candidate in "${candidates[@]}"; do
  if [ -x "$candidate" ] && built="$("$candidate" --version 2>/dev/null)"; then
    bin="$candidate"
    break
  fi
done
[ -n "$bin" ] || die "no dimby that runs among: ${candidates[*]}"
echo "ci_rollback: with $bin: $built"

# One deploy or rollback at a time on this host (scripts/ci_deploy.sh takes the same lock).
if [ -d "$(dirname "$incoming")" ]; then
  lock="$(dirname "$incoming")/.deploy.lock"
  exec 9>>"$lock" || die "cannot open the lock $lock"
  flock -n 9 || die "another deploy or rollback holds $lock"
fi

config_args=()
if [ -n "$config" ]; then
  config_args=(--config "$config")
fi
mkdir -p "$out" || die "cannot create $out"
summary="$out/rollback-summary.md"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

code=0
"$bin" deploy rollback "${config_args[@]}" 9>&- 2>&1 | tee "$log" || code=$?
rollback_output="$(cat "$log")"
status_code=0
"$bin" deploy status "${config_args[@]}" 9>&- >"$log" 2>&1 || status_code=$?
status_output="$(cat "$log")"
history_output="$("$bin" deploy history --limit 5 "${config_args[@]}" 9>&- 2>&1)" || true

if [ "$code" -eq 0 ]; then outcome="done"; else outcome="FAILED (exit code $code)"; fi
{
  echo "## Rollback: $outcome"
  echo
  echo "\`dimby deploy rollback\` on $(hostname) with \`$bin\` ($built):"
  echo
  echo '```text'
  echo "$rollback_output"
  echo '```'
  echo
  echo "### \`dimby deploy status\`$([ "$status_code" -eq 0 ] || echo " (exit code $status_code)")"
  echo
  echo '```text'
  echo "$status_output"
  echo '```'
  echo
  echo "### The last deploys (\`dimby deploy history --limit 5\`)"
  echo
  echo '```text'
  echo "$history_output"
  echo '```'
} >"$summary"
echo
cat "$summary"
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  cat "$summary" >>"$GITHUB_STEP_SUMMARY" || echo "ci_rollback: could not append to \$GITHUB_STEP_SUMMARY" >&2
fi
exit "$code"
