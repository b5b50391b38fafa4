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
# stage_done NAME START: say how long stage NAME took since START ($SECONDS then); with
# VAE_STAGE_LOG set (.ci/run sets it) also append "NAME<TAB>seconds" there for its budget table.
stage_done() {
  local s=$((SECONDS - $2))
  say "stage '$1': $((s / 60))m$((s % 60))s"
  if [[ -n ${VAE_STAGE_LOG:-} ]]; then printf '%s\t%d\n' "$1" "$s" >>"$VAE_STAGE_LOG"; fi
}
# slowest_tests LOG N: the N slowest tests of a ctest LastTest.log, "seconds  name" a line.
slowest_tests() {
  python3 - "$1" "$2" <<'PY'
import re, sys
name, rows = None, []
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r'\d+/\d+ Test: (.+)$', line)
    if m: name = m.group(1).strip()
    m = re.match(r'"?Test time = *([0-9.]+) sec', line.strip())
    if m and name: rows.append((float(m.group(1)), name)); name = None
for t, n in sorted(rows, reverse=True)[:int(sys.argv[2])]:
    print(f"  {t:8.1f} s  {n}")
PY
}
