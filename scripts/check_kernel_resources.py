#!/usr/bin/env python3
"""What only the hardware limits, checked from ptxas's report of our kernels' nvcc build.

The CPU executor runs the same kernel source and proves its results, but it cannot see how
ptxas allocates registers: a register array indexed in a loop that stays rolled moves to local
memory (a stack frame, LDL/STL on every access), and spills do the same under register
pressure. This reads the reports scripts/nvcc_resource_log keeps (-Xptxas=-v) and fails when
  - any function spills (spill stores or loads > 0), or
  - any function keeps a stack frame, except those in ALLOWED_STACK below, each with the
    math-library call that needs it and the most bytes it may take.

  check_kernel_resources.py REPORT...      (one report per kernel family's .cu)
  check_kernel_resources.py --self-test    (the check on planted reports: it must fail them)
"""
import re
import subprocess
import sys

# (pattern in the mangled name, most stack bytes, why)
ALLOWED_STACK = [
    ("noise_kernel", 40,
     "the device noise's double-precision log and cos (Box-Muller, as the host draws it): the "
     "CUDA math library's argument reduction keeps a small local array"),
]

ENTRY = re.compile(r"Compiling entry function '([^']+)' for '(sm_\d+)'")
PROPERTIES = re.compile(r"Function properties for (\S+)")
FRAME = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")


def demangle(names):
    try:
        out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True, check=True)
        return dict(zip(names, out.stdout.splitlines()))
    except (OSError, subprocess.CalledProcessError):
        return {n: n for n in names}


def functions(text):
    """(function, architecture, stack bytes, spill stores, spill loads) per function and architecture."""
    arch, current, out = "?", None, []
    for line in text.splitlines():
        m = ENTRY.search(line)
        if m:
            arch = m.group(2)
            continue
        m = PROPERTIES.search(line)
        if m:
            current = m.group(1)
            continue
        m = FRAME.search(line)
        if m and current:
            out.append((current, arch, int(m.group(1)), int(m.group(2)), int(m.group(3))))
            current = None
    return out


def problems(reports):
    found, bad = 0, []
    names = {}
    for path, text in reports:
        fns = functions(text)
        if not fns:
            bad.append((path, f"{path}: no function in the report (was it built with -Xptxas=-v?)"))
        found += len(fns)
        for name, arch, stack, stores, loads in fns:
            names[name] = None
            if stores or loads:
                bad.append((name, f"{{}} ({arch}) spills: {stores} bytes stored, {loads} bytes loaded"))
            if stack:
                allowed = [(limit, why) for pattern, limit, why in ALLOWED_STACK if pattern in name]
                if not allowed:
                    bad.append((name, f"{{}} ({arch}) keeps a {stack}-byte stack frame (a register array in "
                                      "local memory? unroll the loops that index it)"))
                elif stack > allowed[0][0]:
                    bad.append((name, f"{{}} ({arch}) keeps a {stack}-byte stack frame, over the "
                                      f"{allowed[0][0]} bytes allowed for {allowed[0][1]}"))
    readable = demangle(list(names))
    return found, [msg.format(readable.get(name, name)) if "{}" in msg else msg for name, msg in bad]


def main(paths):
    reports = []
    for path in paths:
        try:
            with open(path) as f:
                reports.append((path, f.read()))
        except OSError as e:
            print(f"{path}: cannot read the ptxas report ({e.strerror}); rebuild the kernels", file=sys.stderr)
            return 1
    found, bad = problems(reports)
    for msg in bad:
        print("FAIL: " + msg)
    print(f"{found} functions in {len(reports)} reports: "
          f"{'no spills, no stack frames but the named ones' if not bad else str(len(bad)) + ' problems'}")
    return 1 if bad else 0


PLANTED = """ptxas info    : Compiling entry function '_ZN3vae7kernels4cuda4gemm23register_blocked_kernelENS2_7ProblemE' for 'sm_90'
ptxas info    : Function properties for _ZN3vae7kernels4cuda4gemm23register_blocked_kernelENS2_7ProblemE
    {frame} bytes stack frame, {stores} bytes spill stores, {loads} bytes spill loads
ptxas info    : Used 72 registers, used 1 barriers, 64 bytes cumulative stack size, 17408 bytes smem
ptxas info    : Compiling entry function '_ZN3vae7kernels4cuda4data12noise_kernelENS0_4data9NoiseArgsE' for 'sm_90'
ptxas info    : Function properties for _ZN3vae7kernels4cuda4data12noise_kernelENS0_4data9NoiseArgsE
    {noise} bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
"""


def self_test():
    def count(**kw):
        values = dict(frame=0, stores=0, loads=0, noise=40)
        values.update(kw)
        return len(problems([("planted", PLANTED.format(**values))])[1])
    checks = [("a clean report", count(), 0), ("a 64-byte stack frame in a GEMM kernel", count(frame=64), 1),
              ("spill stores", count(stores=8), 1), ("spill loads", count(loads=8), 1),
              ("the noise kernel over its 40 bytes", count(noise=48), 1),
              ("an empty report", len(problems([("empty", "")])[1]), 1)]
    failed = [f"{what}: {got} problems, expected {want}" for what, got, want in checks if got != want]
    for msg in failed:
        print("FAIL: " + msg)
    print(f"self-test: {len(checks) - len(failed)} of {len(checks)} planted reports judged as expected")
    return 1 if failed else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(self_test())
    if not sys.argv[1:]:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1:]))
