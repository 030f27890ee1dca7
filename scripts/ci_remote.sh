#!/usr/bin/env bash
# The runner's side of the deploy workflows (.github/workflows/deploy.yml, rollback.yml): ssh to
# the host and run a script there, detached from the connection, so that a cancelled job or a
# dropped connection never stops `dimby deploy` in the middle of a cutover.
#
#   scripts/ci_remote.sh setup
#       writes the ssh key, known_hosts and a config for the host from DEPLOY_SSH_KEY,
#       DEPLOY_KNOWN_HOSTS, DEPLOY_HOST, DEPLOY_USER (and DEPLOY_PORT, default 22) into
#       $RUNNER_TEMP/dimby-ssh; strict host key checking, no password prompts. Prints no secret.
#   scripts/ci_remote.sh run [--copy FILE]... [--fetch-to DIR] SCRIPT [ARG...]
#       copies SCRIPT and every FILE into a new directory on the host, starts `bash SCRIPT ARG...`
#       there (in that directory, under setsid and nohup), follows its output until it ends,
#       copies the directory's out/ and the output (run.log) back into DIR (default remote-out),
#       removes the directory and exits with the script's code. Relative paths in ARG are the
#       host directory's. If following breaks off, the script goes on on the host; its directory
#       is named in the error.
#   scripts/ci_remote.sh teardown
#       removes what setup wrote.
#
# The host directory's name is expanded on the runner, on purpose (it is checked first):
# shellcheck disable=SC2029
set -euo pipefail

usage() {
  echo "usage: $0 setup | run [--copy FILE]... [--fetch-to DIR] SCRIPT [ARG...] | teardown" >&2
  exit 2
}
die() {
  echo "ci_remote: $*" >&2
  exit 1
}

ssh_dir="${RUNNER_TEMP:-/tmp}/dimby-ssh"
host=dimby-deploy # the Host alias of the config setup writes
ssh_opts=(-F "$ssh_dir/config")

setup() {
  local name
  for name in DEPLOY_SSH_KEY DEPLOY_KNOWN_HOSTS DEPLOY_HOST DEPLOY_USER; do
    [ -n "${!name:-}" ] || die "$name is not set (a secret of the production environment)"
  done
  (
    umask 077
    rm -rf "$ssh_dir"
    mkdir -p "$ssh_dir"
    printf '%s\n' "$DEPLOY_SSH_KEY" >"$ssh_dir/key"
    printf '%s\n' "$DEPLOY_KNOWN_HOSTS" >"$ssh_dir/known_hosts"
    cat >"$ssh_dir/config" <<EOF
Host $host
  HostName $DEPLOY_HOST
  User $DEPLOY_USER
  Port ${DEPLOY_PORT:-22}
  IdentityFile $ssh_dir/key
  IdentitiesOnly yes
  UserKnownHostsFile $ssh_dir/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  ConnectTimeout 20
  ServerAliveInterval 15
  ServerAliveCountMax 8
EOF
  )
  ssh "${ssh_opts[@]}" "$host" true || die "cannot log in to the host (key, user, host or known_hosts)"
  echo "ci_remote: ssh to the host works"
}

run() {
  local copies=() fetch_to="remote-out"
  while [ $# -gt 0 ]; do
    case "$1" in
      --copy)
        [ $# -ge 2 ] || usage
        copies+=("$2")
        shift 2
        ;;
      --fetch-to)
        [ $# -ge 2 ] || usage
        fetch_to="$2"
        shift 2
        ;;
      -*) usage ;;
      *) break ;;
    esac
  done
  [ $# -ge 1 ] || usage
  local script="$1"
  shift
  [ -f "$ssh_dir/config" ] || die "no ssh config: run '$0 setup' first"
  local file
  for file in "$script" "${copies[@]}"; do
    [ -f "$file" ] || die "no file $file"
  done

  # The launcher: the script and its arguments, quoted here, run in the host directory; its exit
  # code is written last, which is what the follower waits for.
  local launcher
  launcher="$(mktemp)"
  # shellcheck disable=SC2016 # $0 and $? are the host's, expanded there
  {
    echo 'cd "$(dirname "$0")" || exit 1'
    printf 'bash %q' "./$(basename "$script")"
    printf ' %q' "$@"
    echo ' >run.log 2>&1 </dev/null'
    echo 'echo $? >run.rc.tmp && mv run.rc.tmp run.rc'
  } >"$launcher"

  local dir
  dir="$(ssh "${ssh_opts[@]}" "$host" 'mktemp -d "${TMPDIR:-/tmp}/dimby-ci.XXXXXXXX"')" \
    || die "cannot make a directory on the host"
  [[ "$dir" =~ ^/[A-Za-z0-9._/-]+$ ]] || die "unexpected directory name from the host: $dir"
  if ! scp -q "${ssh_opts[@]}" "$script" "${copies[@]}" "$host:$dir/" \
    || ! scp -q "${ssh_opts[@]}" "$launcher" "$host:$dir/launch"; then
    ssh "${ssh_opts[@]}" "$host" "rm -rf $dir" || true
    die "cannot copy the files to the host"
  fi
  rm -f "$launcher"
  ssh "${ssh_opts[@]}" "$host" "setsid nohup bash $dir/launch </dev/null >/dev/null 2>&1 &" \
    || die "cannot start $(basename "$script") in $dir"
  echo "ci_remote: $(basename "$script") runs on the host in $dir"

  # Follow run.log until run.rc appears (tail -f is stopped a moment after, when it has printed
  # the end); the host's exit status is the script's.
  local code=0
  # shellcheck disable=SC2016 # expanded on the host
  ssh "${ssh_opts[@]}" "$host" "cd $dir && "'touch run.log && { tail -n +1 -f run.log & t=$!;
    while [ ! -f run.rc ]; do sleep 1; done; sleep 2; kill "$t"; exit "$(cat run.rc)"; }' || code=$?
  local finished=true
  if ! ssh "${ssh_opts[@]}" "$host" "test -f $dir/run.rc"; then
    finished=false
  fi

  mkdir -p "$fetch_to"
  # out/ may be missing or empty (a script that stopped early): fetch what is there.
  ssh "${ssh_opts[@]}" "$host" "cd $dir && tar -cf - run.log \$(test -d out && echo out)" \
    | tar -xf - -C "$fetch_to" || echo "ci_remote: could not fetch everything from $dir" >&2
  if [ -d "$fetch_to/out" ]; then
    cp -R "$fetch_to/out/." "$fetch_to/"
    rm -rf "$fetch_to/out"
  fi

  if [ "$finished" = true ]; then
    ssh "${ssh_opts[@]}" "$host" "rm -rf $dir" || echo "ci_remote: could not remove $dir on the host" >&2
  else
    die "lost the host while following: $(basename "$script") may still run there in $dir (dimby deploy status, then that directory's run.log)"
  fi
  return "$code"
}

teardown() {
  rm -rf "$ssh_dir"
}

[ $# -ge 1 ] || usage
command="$1"
shift
case "$command" in
  setup) [ $# -eq 0 ] || usage; setup ;;
  run) run "$@" ;;
  teardown) [ $# -eq 0 ] || usage; teardown ;;
  *) usage ;;
esac
