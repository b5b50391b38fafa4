# Sourced by scripts/gpu (and its tests, tests/scripts/): the parts of the GPU run that must be
# right before a GPU is spent on them -- which libraries travel, how our binaries find them, and
# the deadline every step runs under.

# The libraries our binaries need beyond LibTorch's (found there through torch's own folder),
# CUDA's (the wheel's nvidia/cu13 folder, or the driver) and the C/C++ runtime (newer there).
carried_library() {
  case $(basename "$1") in
    libc.so*|libm.so*|libdl.so*|librt.so*|libpthread.so*|libutil.so*|ld-linux*|libstdc++.so*|libgcc_s.so*) return 1 ;;
    libcuda.so*|libcudart.so*|libnvrtc*|libcublas*|libnvToolsExt*|libcupti*) return 1 ;;
  esac
  case $1 in */site-packages/torch/*|*/site-packages/nvidia/*|/usr/local/cuda*) return 1 ;; esac
  return 0
}

# Packing side: the carried libraries find each other in their own folder (a carried library
# needing another one, libpng's libz, takes the carried one).
relink_carried_libraries() {  # LIB_DIR
  local lib
  for lib in "$1"/*.so*; do
    [[ -f $lib && ! -L $lib ]] || continue
    patchelf --set-rpath '$ORIGIN' "$lib"
  done
}

# Bytes of the files git tracks in the checkout at $1 (what the device tool carries besides
# .deps). Summed per file: `xargs du -c` splits a long list into several runs, each with its
# own total, and the last total alone undercounts.
tracked_tree_bytes() {
  git -C "$1" ls-files -z | (cd "$1" && xargs -0 stat -c %s 2>/dev/null) | awk '{s += $1} END {print s + 0}'
}

# Remote side: our binaries, and only they, find the carried libraries and the machine's
# LibTorch and CUDA libraries, through their RUNPATH. Nothing goes into LD_LIBRARY_PATH, so the
# machine's own tools (python3, compute-sanitizer, nvidia-smi) and what our binaries start
# (python3 for the cross-checks) load the machine's libraries, never our Debian copies.
point_binaries_at() {  # "DIR:DIR:..." BINARY...
  local path=$1 bin
  shift
  for bin in "$@"; do
    [[ -f $bin && -x $bin ]] || continue
    patchelf --set-rpath "$path" "$bin" || return 1
  done
}

# The deadline every step of `scripts/gpu remote` runs under: `deadline` (seconds of bash's
# SECONDS, which the caller starts at 0), `status` (set to 1 on a skip) and `note MESSAGE` are
# the caller's.
#   begin_step NAME NEED   returns 1, noting the skip, when fewer than NEED seconds are left
#   end_step NAME          notes the step's seconds
#   within COMMAND...      runs COMMAND under timeout with the seconds left; with none left it
#                          does not start it (timeout 0 would mean no limit at all) and fails
begin_step() {
  left=$((deadline - SECONDS))
  if ((left < $2)); then
    status=1; note "$1: SKIPPED, ${left} s left of the deadline, it needs ${2} s or more"
    return 1
  fi
  say "$1 (${left} s left)"
  step_start=$SECONDS
}
end_step() { note "$1: $((SECONDS - step_start)) s"; }
within() {
  local left=$((deadline - SECONDS))
  if ((left <= 0)); then
    status=1; note "$1: NOT STARTED, the deadline has passed (${left} s left)"
    return 124
  fi
  timeout --kill-after=5 "$left" "$@"
}
