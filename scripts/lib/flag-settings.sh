# Sourced by upgrade-tp.sh and rollback-tp.sh. `flag_setting SCRIPT NAME FLAG`: the setting NAME
# (an environment variable) set to 1 adds FLAG to the array `args`; unset or 0 adds nothing;
# anything else is refused with exit 2, before tpctl runs.
flag_setting() {
  case "${!2:-}" in
    "" | 0) ;;
    1) args+=("$3") ;;
    *)
      echo "$1: $2 must be 1 or unset" >&2
      exit 2
      ;;
  esac
}
