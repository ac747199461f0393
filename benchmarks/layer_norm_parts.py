"""Where tutorial 05's layer norm forward+backward spends its time, part by part, and the dx
kernel in residue order against grid order.

Parts (the tutorial's own calls, inputs as in ``workloads.layer_norm_rows``): the forward
kernel, the host work of ``backward`` (its allocations and the zeroing of the locks), the dx
kernel, the dwdb kernel, and STREAM copy as the anchor. ``grid order`` is the dx kernel
with its lock row written ``row - (row // GROUP_SIZE_M) * GROUP_SIZE_M``: the same rows,
which ``grid_order.residue_period`` does not recognize, so its programs run in grid order
(the behaviour before the residue order). Every part is timed interleaved, round
by round: at 1 thread in thread CPU time (contention on a shared machine inflates it far
less than wall time), at more threads in wall time with the process CPU time of all threads
(spinning included) beside it. Printed: medians in ms, and GB/s for the parts that count
bytes (the dx kernel: x, dy, dx; STREAM copy: 8 bytes an element).

Run: ``python -m benchmarks.layer_norm_parts [threads] [rounds] [M]`` (defaults 1, 40, 1024).
"""

from __future__ import annotations

import atexit
import importlib.util
import inspect
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import tritium
from benchmarks.limits import Stream
from tutorials import _host, layer_norm


def _grid_order_copy() -> Any:
    """The dx kernel with a lock row the residue analysis does not see (see the docstring)."""
    src = inspect.getsource(layer_norm._layer_norm_bwd_dx_fused.fn)
    src = src.replace("_layer_norm_bwd_dx_fused", "_dx_grid_order")
    mod = "lock_id = row % GROUP_SIZE_M"
    assert mod in src
    src = src.replace(mod, "lock_id = row - (row // GROUP_SIZE_M) * GROUP_SIZE_M")
    head = "import tritium as triton\nimport tritium.language as tl\n"
    folder = tempfile.mkdtemp(prefix="tritium-ln-parts-")
    atexit.register(shutil.rmtree, folder, True)  # removed when the process ends
    path = os.path.join(folder, "dx_grid_order.py")  # @jit needs a source file
    with open(path, "w") as f:
        f.write(head + src)
    spec = importlib.util.spec_from_file_location("dx_grid_order", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._dx_grid_order


def parts(M: int, N: int, threads: int) -> dict[str, tuple[Callable[[], Any], float]]:
    """name -> (function, bytes it moves or 0)."""
    rng = np.random.default_rng(2)
    x = (-2.3 + 0.5 * rng.standard_normal((M, N))).astype(np.float32)
    w, b = rng.random(N, dtype=np.float32), rng.random(N, dtype=np.float32)
    dy = (0.1 * rng.standard_normal((M, N))).astype(np.float32)
    _, mean, rstd = layer_norm.forward(x, w, b)
    G = 128 if N <= 4096 else 96  # the tutorial's GROUP_SIZE_M for this N (<= 8192)
    block = tritium.next_power_of_2(N)
    locks = np.zeros(2 * G, np.int32)
    dw, db = np.zeros((G, N), np.float32), np.zeros((G, N), np.float32)
    dx = np.empty((M, N), np.float32)
    fw, fb = np.empty(N, np.float32), np.empty(N, np.float32)
    old = _grid_order_copy()

    def dx_kernel(kernel: Any) -> Callable[[], None]:
        def run() -> None:
            locks[:] = 0
            kernel[(M,)](dx, dy, dw, db, x, w, mean, rstd, locks, N, N,
                         GROUP_SIZE_M=G, BLOCK_SIZE_N=block, num_warps=8)  # fmt: skip

        return run

    def host() -> None:  # backward's allocations and zeroing, as the tutorial does them
        _host.zeros((2 * G,), np.int32, like=x)
        _host.empty((2, G, N), np.float32, like=x)
        _host.empty((N,), np.float32, like=x)
        _host.empty((N,), np.float32, like=x)
        _host.empty((M, N), np.float32, like=x)

    def dwdb() -> None:
        layer_norm._layer_norm_bwd_dwdb[(tritium.cdiv(N, 128),)](
            dw, db, fw, fb, min(G, M), N, BLOCK_SIZE_M=32, BLOCK_SIZE_N=128
        )

    stream = Stream(1 << 24, threads)
    return {
        "forward": (lambda: layer_norm.forward(x, w, b), 8.0 * M * N),
        "host (bwd)": (host, 0.0),
        "dx kernel": (dx_kernel(layer_norm._layer_norm_bwd_dx_fused), 12.0 * M * N),
        "dx, grid order": (dx_kernel(old), 12.0 * M * N),
        "dwdb kernel": (dwdb, 0.0),
        "STREAM copy": (stream.copy(threads), 8.0 * stream.n),
    }


def main() -> None:
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    M = int(sys.argv[3]) if len(sys.argv) > 3 else 1024
    fns = parts(M, 4096, threads)
    tritium.set_num_threads(threads)
    for fn, _ in fns.values():
        fn()
        fn()
    clock = time.thread_time if threads == 1 else time.perf_counter
    times: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}  # process CPU, all threads
    for _ in range(rounds):
        for name, (fn, _) in fns.items():
            c0, t0 = time.process_time(), clock()
            fn()
            times[name].append((clock() - t0) * 1e3)
            cpu[name].append((time.process_time() - c0) * 1e3)
    print(f"{M}x4096, {threads} thread(s), {rounds} rounds, load {os.getloadavg()[0]:.1f}")
    for name, (_, nbytes) in fns.items():
        ms = statistics.median(times[name])
        rate = f"  {nbytes / ms / 1e6:6.1f} GB/s" if nbytes else ""
        both = f"  (CPU {statistics.median(cpu[name]):7.3f} ms)" if threads > 1 else ""
        print(f"  {name:16s} {ms:7.3f} ms{rate}{both}")
    new, old = (statistics.median(times[k]) for k in ("dx kernel", "dx, grid order"))
    print(f"  residue order / grid order: {old / new:.3f}x", end="")
    if threads > 1:
        new, old = (statistics.median(cpu[k]) for k in ("dx kernel", "dx, grid order"))
        print(f" (CPU {old / new:.3f}x)", end="")
    print(f", load {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
