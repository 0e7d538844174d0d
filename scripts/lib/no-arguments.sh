# Sourced by upgrade-tp.sh and rollback-tp.sh, which take no arguments: their settings are
# environment variables. `no_arguments SCRIPT DRY_RUN "$@"`: -h or --help prints SCRIPT's header
# (its comment lines before `set -euo pipefail`) and exits 0; any other argument (--dry-run, a
# stray word) is refused with exit 2, naming DRY_RUN, before anything is read or run.
no_arguments() {
  local script="$1" dry_run="$2" name
  name="$(basename "$script")"
  shift 2
  case "$#:${1-}" in
    0:) ;;
    1:-h | 1:--help)
      sed -n '2,/^set -euo pipefail$/{/^set /d;s/^# \{0,1\}//;p;}' "$script"
      exit 0
      ;;
    *)
      echo "$name: takes no arguments (given: $*); its settings are environment variables (bash scripts/$name --help). A plan without acting: $dry_run" >&2
      exit 2
      ;;
  esac
}
