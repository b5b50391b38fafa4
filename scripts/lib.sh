# Shared by the scripts in this folder: paths and a logging helper. Source, don't run.
VAE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VAE_BUILD=${VAE_BUILD:-$VAE_ROOT/build}
VAE_VENV=${VAE_VENV:-$VAE_ROOT/.venv}
if [[ -t 2 ]]; then
  say() { printf '\033[1m[vaebench]\033[0m %s\n' "$*" >&2; }
else
  say() { printf '[vaebench] %s\n' "$*" >&2; }
fi
# backend_usable LISTING BACKEND DEVICE: whether LISTING (the output of `vaebench backends`)
# shows BACKEND as usable on DEVICE.
backend_usable() {
  awk -v b="$2:" -v d="  $3: usable" '$1==b{f=1;next} /^[^ ]/{f=0} f&&$0==d{ok=1} END{exit !ok}' <<<"$1"
}
