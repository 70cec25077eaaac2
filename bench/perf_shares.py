"""Groups a `perf report --stdio --no-children --sort sym` listing by what
each symbol belongs to, and prints a Markdown table of the shares.

    python bench/perf_shares.py perf.txt                 a whole sweep
    python bench/perf_shares.py --evaluation perf.txt    one evaluation
                                                         (`--sort dso,sym`)
"""

import re
import sys

GROUPS = [
    ("SQLite (reading the store)", r"sqlite3|Vdbe|vdbe|btree|Btree|pager|Pager|rusqlite|json_each|jsonEach|registry::sqlite"),
    ("WebAssembly (instantiate, run the gate, host calls)", r"wasmtime|cranelift|wasm|fiber|wasi|gate::wasm|bindings|\[unknown\]|0x0000"),
    ("the report (JSON)", r"serde_json|JsonStream|report::|ryu|itoa|format_escaped"),
    ("memory (allocation, copies, resetting pooled memory)", r"malloc|free|_int_|realloc|calloc|memcpy|memmove|memset|mmap|munmap|brk|unlink_chunk"),
    ("kernel", r"\[k\]"),
]


EVALUATION = [
    ("the gate's own code (JIT-compiled WebAssembly)", r"\[JIT\]|\.cwasm|wasm\[\d+\]"),
    ("compiling the component once (setup, not per evaluation)", r"regalloc|cranelift|Cranelift"),
    ("instantiation and calls (wasmtime runtime)", r"wasmtime"),
    ("resetting and copying memory, allocation (libc)", r"libc\.so|memset|memmove|malloc|free"),
    ("kernel", r"\[k\]|kernel"),
    ("the async runtime and its timer (tokio)", r"tokio"),
]


def shares(path: str, groups: list, rest: str) -> None:
    """Prints the share of samples in `path` of each of `groups` (the first
    pattern that matches a line takes it) and of the rest."""
    totals = {name: 0.0 for name, _ in groups}
    other = 0.0
    for line in open(path, errors="replace"):
        m = re.match(r"\s*([\d.]+)%\s+(.*)$", line)
        if not m:
            continue
        pct, sym = float(m.group(1)), m.group(2)
        for name, pattern in groups:
            if re.search(pattern, sym):
                totals[name] += pct
                break
        else:
            other += pct
    print("| share of samples | |")
    print("|---|---:|")
    for name, _ in groups:
        print(f"| {name} | {totals[name]:.1f} % |")
    print(f"| {rest} | {other:.1f} % |")


def main() -> None:
    if sys.argv[1] == "--evaluation":
        shares(sys.argv[2], EVALUATION, "the rest (modelgate's host side: the run from the cache, the candidate's conversions, the evidence)")
    else:
        shares(sys.argv[1], GROUPS, "the rest (async runtime, candidate resolution, …)")


if __name__ == "__main__":
    main()
