# Shared by the scripts that run Python tests against the release binaries:
# source it after setting CARGO_TARGET_DIR.
#
#   need_bins TAG BIN...   export BIN_VAR=path for each release binary (cairn-synth
#                          -> CAIRN_SYNTH_BIN), honouring one already set; exit 2
#                          naming the build command when one is missing
#   make_venv              the project's venv at $venv, made once

venv="$CARGO_TARGET_DIR/py-venv"
py="${PYTHON:-python3}"

need_bins() {
  local tag=$1 bin var path
  shift
  for bin in "$@"; do
    var="$(echo "$bin" | tr a-z- A-Z_)_BIN"
    path="${!var:-$CARGO_TARGET_DIR/release/$bin}"
    if [ ! -x "$path" ]; then
      echo "$tag: no $bin at $path; run \`cargo build --release --workspace --bins\` first" >&2
      exit 2
    fi
    export "$var=$path"
  done
}

make_venv() {
  if [ ! -x "$venv/bin/python" ]; then
    echo "== creating $venv"
    if ! "$py" -m venv "$venv" 2>/dev/null; then
      # Debian splits venv (and its pip) into python3-venv.
      apt-get update -qq && apt-get install -y -qq python3-venv
      "$py" -m venv "$venv"
    fi
  fi
}
