#!/usr/bin/env bash
# scripts/gpu_lib.sh on this machine, before a GPU is spent on it:
#   - within: a slow step is cut at the deadline; with no time left a step does not start at
#     all (timeout 0 would have meant no limit);
#   - begin_step: a step that needs more than is left is skipped and noted;
#   - the libraries: a packed binary finds its carried library through the RUNPATH the remote
#     side sets, with LD_LIBRARY_PATH unset, and the carried libraries find each other.
# Exit 0 when every check holds; each failure is printed.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/scripts/gpu_lib.sh"
say() { :; }
notes=()
note() { notes+=("$*"); }
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- the deadline ---------------------------------------------------------------------------
status=0; deadline=2; SECONDS=0
start=$SECONDS
within sleep 30; rc=$?
took=$((SECONDS - start))
((rc == 124)) || fail "within: a step past the deadline ended with $rc, expected timeout's 124"
((took <= 8)) || fail "within: a 30 s step with 2 s left ran ${took} s"

status=0; deadline=10; SECONDS=10  # exactly at the deadline: 0 s left
within touch "$tmp/started"; rc=$?
[[ ! -e $tmp/started ]] || fail "within: a step started with 0 s left (timeout 0 = no limit)"
((rc != 0 && status == 1)) || fail "within: with 0 s left it returned $rc and status $status"
[[ ${notes[*]} == *"NOT STARTED"* ]] || fail "within: no note of the step not started (${notes[*]})"

status=0; deadline=10; SECONDS=15  # past it
within touch "$tmp/started"; rc=$?
[[ ! -e $tmp/started ]] || fail "within: a step started 5 s past the deadline"

status=0; notes=(); deadline=100; SECONDS=50
if begin_step tests 60; then fail "begin_step: started a step needing 60 s with 50 left"; fi
[[ $status == 1 && ${notes[*]} == *"tests: SKIPPED"* ]] || fail "begin_step: the skip was not noted (${notes[*]})"
status=0; SECONDS=0
begin_step tests 60 || fail "begin_step: refused a step needing 60 s with 100 left"
within true || fail "within: a quick step with time left failed"

# --- the libraries --------------------------------------------------------------------------
if ! command -v patchelf >/dev/null || ! command -v cc >/dev/null; then
  fail "patchelf or cc missing (scripts/setup installs them)"
else
  mkdir -p "$tmp/stage/lib" "$tmp/stage/build" "$tmp/src"
  printf 'int probe_inner(void) { return 41; }\n' > "$tmp/src/inner.c"
  printf 'int probe_inner(void);\nint probe(void) { return probe_inner() + 1; }\n' > "$tmp/src/outer.c"
  printf 'int probe(void);\nint main(void) { return probe() == 42 ? 0 : 3; }\n' > "$tmp/src/main.c"
  cc -shared -fPIC -o "$tmp/src/libprobeinner.so" "$tmp/src/inner.c"
  cc -shared -fPIC -o "$tmp/src/libprobe.so" "$tmp/src/outer.c" -L"$tmp/src" -lprobeinner
  cc -o "$tmp/stage/build/probe" "$tmp/src/main.c" -L"$tmp/src" -lprobe -Wl,-rpath,"$tmp/src"
  mv "$tmp/src/libprobe.so" "$tmp/src/libprobeinner.so" "$tmp/stage/lib/"  # as pack carries them
  relink_carried_libraries "$tmp/stage/lib"
  # As on the remote side: unpacked elsewhere, pointed at the carried folder.
  mv "$tmp/stage" "$tmp/deps"
  if env -u LD_LIBRARY_PATH "$tmp/deps/build/probe" 2>/dev/null; then
    fail "the probe ran before its RUNPATH was set (the test cannot see a missing library)"
  fi
  point_binaries_at "$tmp/deps/lib:/nonexistent/torch/lib" "$tmp/deps/build/probe" || fail "point_binaries_at failed"
  env -u LD_LIBRARY_PATH "$tmp/deps/build/probe"; rc=$?
  ((rc == 0)) || fail "the packed binary did not run from its RUNPATH alone (exit $rc)"
  [[ -z ${LD_LIBRARY_PATH:-} || ${LD_LIBRARY_PATH} != *"$tmp"* ]] || fail "LD_LIBRARY_PATH names the carried folder"
fi

# --- the carried tree's size ---------------------------------------------------------------
# More files than one xargs run takes: the total must be of all of them.
if command -v git >/dev/null; then
  repo="$tmp/repo"
  mkdir -p "$repo"
  git -C "$repo" init -q
  for i in $(seq 1 3000); do printf 'x%.0s' $(seq 1 $((i % 7 + 1))) > "$repo/file-with-a-long-name-to-fill-the-argument-list-$i.txt"; done
  git -C "$repo" add -A >/dev/null
  want=$(find "$repo" -name '*.txt' -printf '%s\n' | awk '{s += $1} END {print s}')
  got=$(tracked_tree_bytes "$repo")
  [[ $got == "$want" ]] || fail "tracked_tree_bytes: $got bytes, the 3000 files hold $want"
fi

if ((failures)); then echo "$failures check(s) failed"; exit 1; fi
echo "scripts/gpu_lib.sh: deadline and library checks passed"
