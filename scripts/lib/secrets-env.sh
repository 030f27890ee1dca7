# shellcheck shell=bash
# Sourced by scripts/ci_deploy.sh and scripts/ci_rollback.sh (not run by itself): loading the
# host's secrets file, in one copy. The sourcing script defines `die MESSAGE` (prints MESSAGE with
# its own prefix and exits).

# load_env_file FILE: if FILE exists, exports its KEY=VALUE lines as the units get them (systemd's
# EnvironmentFile=): comments and blank lines skipped, keys and values trimmed and one pair of
# surrounding quotes dropped, nothing evaluated. Dies when FILE exists but cannot be read, or on a
# key that is not a variable name.
load_env_file() {
  # Prefixed, so that no secret is named like one of them (it would be exported as the local,
  # gone on return).
  local _env_file="$1" _env_line _env_key _env_value
  if [ -e "$_env_file" ]; then
    [ -r "$_env_file" ] || die "cannot read $_env_file (it must be readable by $(id -un))"
    while IFS= read -r _env_line || [ -n "$_env_line" ]; do
      case "$_env_line" in '' | '#'* | ';'*) continue ;; esac
      [[ "$_env_line" == *=* ]] || continue
      _env_key="${_env_line%%=*}" _env_value="${_env_line#*=}"
      _env_key="${_env_key#"${_env_key%%[![:space:]]*}"}"
      _env_key="${_env_key%"${_env_key##*[![:space:]]}"}"
      _env_value="${_env_value#"${_env_value%%[![:space:]]*}"}"
      _env_value="${_env_value%"${_env_value##*[![:space:]]}"}"
      [[ "$_env_key" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "$_env_file: not a variable name: $_env_key"
      if [[ "$_env_value" =~ ^\"(.*)\"$ || "$_env_value" =~ ^\'(.*)\'$ ]]; then
        _env_value="${BASH_REMATCH[1]}"
      fi
      export "$_env_key=$_env_value"
    done <"$_env_file"
  fi
}
