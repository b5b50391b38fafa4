# Shared by the scripts in this folder: paths and a logging helper. Source, don't run.
VAE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VAE_BUILD=${VAE_BUILD:-$VAE_ROOT/build}
VAE_VENV=${VAE_VENV:-$VAE_ROOT/.venv}
if [[ -t 2 ]]; then
  say() { printf '\033[1m[vaebench]\033[0m %s\n' "$*" >&2; }
else
  say() { printf '[vaebench] %s\n' "$*" >&2; }
fi
# usable_backends LISTING DEVICE: the backends that LISTING (the output of
# `vaebench backends --json`) shows usable on DEVICE, one name a line, in registry order.
usable_backends() {
  python3 -c 'import json, sys
for b in json.loads(sys.argv[1]):
    if any(d["device"] == sys.argv[2] and d["usable"] for d in b["devices"]):
        print(b["name"])' "$1" "$2"
}
# backend_usable LISTING BACKEND DEVICE: whether BACKEND is among them.
backend_usable() { usable_backends "$1" "$3" | grep -qx -- "$2"; }
