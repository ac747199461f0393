"""``torch.compile`` on the CPU: eager vs Inductor's C++ backend vs Inductor's Triton backend
through tritium, on graphs people compile.

    python benchmarks/bench_inductor.py [--dtypes fp32,bf16] [--graphs mlp,softmax] [--quick]
    python benchmarks/bench_inductor.py --interpret   # correctness only, kernels interpreted

Each graph is checked against eager in the same dtype, then timed in one process with the
same thread count for all three (``torch.set_num_threads`` and ``TRITIUM_NUM_THREADS``):
eager, the C++ backend and tritium called in turns (:func:`_interleaved`), at least 10
calls each; the table shows the fastest call (on a shared machine the minimum is the stable
statistic) and ``--json`` keeps the medians too. One child process runs each dtype;
if the child dies (an LLVM abort, say) the graph is reported as crashed and a new child goes on
with the next graph. The table ends with geometric means over the graphs every column ran.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent


# ----- the graphs ------------------------------------------------------------------------------
# Each entry: name -> (make(torch, dtype) -> (fn, args), kind); kind "train" times fwd+bwd.


def _graphs() -> dict[str, Callable[..., Any]]:
    import torch
    import torch.nn.functional as nnf
    from torch import nn

    T, D, H = 256, 256, 4  # tokens, model width, heads

    def rand(*shape: int, dtype: Any) -> Any:
        return torch.randn(*shape).to(dtype)

    def mlp(dt):
        m = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D)).to(dt).eval()
        return m, (rand(T, D, dtype=dt),)

    def layernorm_gelu(dt):
        w, b = rand(D * 4, dtype=dt), rand(D * 4, dtype=dt)
        return (lambda x: nnf.gelu(nnf.layer_norm(x, (4 * D,), w, b))), (rand(T, 4 * D, dtype=dt),)

    def rmsnorm(dt):
        w = rand(4 * D, dtype=dt)

        def f(x):
            xf = x.float()
            return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-6)).to(x.dtype) * w

        return f, (rand(T, 4 * D, dtype=dt),)

    def swiglu(dt):
        return (lambda a, b: nnf.silu(a) * b), (rand(T, 4 * D, dtype=dt), rand(T, 4 * D, dtype=dt))

    def rotary(dt):
        hd = D // H
        inv = 1.0 / (10000 ** (torch.arange(0, hd, 2).float() / hd))
        ang = torch.outer(torch.arange(T).float(), inv)
        cos, sin = ang.cos().to(dt), ang.sin().to(dt)

        def f(q):
            q1, q2 = q[..., ::2], q[..., 1::2]
            return torch.stack((q1 * cos - q2 * sin, q1 * sin + q2 * cos), -1).flatten(-2)

        return f, (rand(H, T, hd, dtype=dt),)

    def softmax(dt):
        return (lambda x: torch.softmax(x, -1)), (rand(4 * T, 4 * D, dtype=dt),)

    def cross_entropy(dt):
        target = torch.randint(0, 4 * D, (4 * T,))
        return (lambda x: nnf.cross_entropy(x, target)), (rand(4 * T, 4 * D, dtype=dt),)

    def attention(dt):
        mask = torch.ones(T, T, dtype=torch.bool).tril()

        def f(q, k, v):
            s = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
            s = s.masked_fill(~mask, float("-inf"))
            return torch.softmax(s.float(), -1).to(q.dtype) @ v

        qkv = [rand(H, T, D // H, dtype=dt) for _ in range(3)]
        return f, tuple(qkv)

    def gpt2_block(dt):
        class Block(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
                self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
                self.fc, self.out = nn.Linear(D, 4 * D), nn.Linear(4 * D, D)

            def forward(self, x):
                q, k, v = self.qkv(self.ln1(x)).split(D, -1)
                q, k, v = (t.view(T, H, D // H).transpose(0, 1) for t in (q, k, v))
                a = nnf.scaled_dot_product_attention(q, k, v, is_causal=True)
                x = x + self.proj(a.transpose(0, 1).reshape(T, D))
                return x + self.out(nnf.gelu(self.fc(self.ln2(x)), approximate="tanh"))

        return Block().to(dt).eval(), (rand(T, D, dtype=dt),)

    def llama_block(dt):
        hd = D // H
        inv = 1.0 / (10000 ** (torch.arange(0, hd, 2).float() / hd))
        ang = torch.outer(torch.arange(T).float(), inv)
        cos, sin = ang.cos().to(dt), ang.sin().to(dt)

        def rms(x, w):
            xf = x.float()
            return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-6)).to(x.dtype) * w

        def rope(t):
            t1, t2 = t[..., ::2], t[..., 1::2]
            return torch.stack((t1 * cos - t2 * sin, t1 * sin + t2 * cos), -1).flatten(-2)

        class Block(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.w1, self.w2 = nn.Parameter(torch.ones(D)), nn.Parameter(torch.ones(D))
                self.qkv = nn.Linear(D, 3 * D, bias=False)
                self.o = nn.Linear(D, D, bias=False)
                self.gate_up = nn.Linear(D, 4 * D, bias=False)
                self.down = nn.Linear(2 * D, D, bias=False)

            def forward(self, x):
                q, k, v = self.qkv(rms(x, self.w1)).split(D, -1)
                q, k, v = (t.view(T, H, hd).transpose(0, 1) for t in (q, k, v))
                a = nnf.scaled_dot_product_attention(rope(q), rope(k), v, is_causal=True)
                x = x + self.o(a.transpose(0, 1).reshape(T, D))
                g, u = self.gate_up(rms(x, self.w2)).chunk(2, -1)
                return x + self.down(nnf.silu(g) * u)

        return Block().to(dt).eval(), (rand(T, D, dtype=dt),)

    def resnet_block(dt):
        class Basic(nn.Module):
            def __init__(self, c: int = 32) -> None:
                super().__init__()
                self.c1, self.c2 = nn.Conv2d(c, c, 3, padding=1), nn.Conv2d(c, c, 3, padding=1)
                self.b1, self.b2 = nn.BatchNorm2d(c), nn.BatchNorm2d(c)

            def forward(self, x):
                return nnf.relu(x + self.b2(self.c2(nnf.relu(self.b1(self.c1(x))))))

        return Basic().to(dt).eval(), (rand(4, 32, 32, 32, dtype=dt),)

    def sum_rows(dt):
        return (lambda x: x.sum(0)), (rand(4 * T, 4 * D, dtype=dt),)

    def sum_cols(dt):
        return (lambda x: x.sum(1)), (rand(4 * T, 4 * D, dtype=dt),)

    def mean_var_middle(dt):
        return (lambda x: torch.var_mean(x, dim=1)), (rand(32, 4 * T, 64, dtype=dt),)

    def amax_all(dt):
        return (lambda x: (x.amax(), x.argmax(-1))), (rand(4 * T, 4 * D, dtype=dt),)

    def pointwise_chain(dt):
        def f(x, y):
            return torch.tanh(x) * torch.sigmoid(y) + torch.exp(-x * x) - torch.where(x > y, x, y)

        return f, (rand(4 * T, 4 * D, dtype=dt), rand(4 * T, 4 * D, dtype=dt))

    def train_mlp(dt):
        m = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.LayerNorm(4 * D), nn.Linear(4 * D, D))
        m = m.to(dt)
        target = torch.randint(0, D, (T,))
        return ("train", m, target), (rand(T, D, dtype=dt),)

    return {
        f.__name__: f
        for f in (
            mlp,
            layernorm_gelu,
            rmsnorm,
            swiglu,
            rotary,
            softmax,
            cross_entropy,
            attention,
            gpt2_block,
            llama_block,
            resnet_block,
            sum_rows,
            sum_cols,
            mean_var_middle,
            amax_all,
            pointwise_chain,
            train_mlp,
        )
    }


# ----- the child: one dtype, graph by graph ----------------------------------------------------


def _train_step(model: Any, target: Any) -> Callable[..., Any]:
    import torch.nn.functional as nnf

    def step(x: Any) -> Any:
        model.zero_grad(set_to_none=True)
        loss = nnf.cross_entropy(model(x).float(), target)
        loss.backward()
        return (loss, *(p.grad for p in model.parameters()))

    return step


def _flat(out: Any) -> list[Any]:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _rel_err(got: Any, want: Any) -> float:
    worst = 0.0
    for g, w in zip(_flat(got), _flat(want)):
        g, w = g.detach().double(), w.detach().double()
        if not g.is_floating_point():
            # integer results (argmax) may pick another of two equal values: count mismatches
            worst = max(worst, float((g != w).double().mean()))
            continue
        worst = max(worst, float((g - w).abs().max() / (w.abs().max() + 1)))
    return worst


def _check_interpreted(dtype_name: str, names: list[str]) -> None:
    """``--interpret``: each graph through Inductor's Triton backend with every kernel run by
    tritium's interpreter (``TRITON_INTERPRET=1``), checked against eager; the profiler counts
    the interpreted launches, so a graph whose kernels silently compiled would show 0."""
    import torch
    import torch._inductor.config as inductor_config

    import tritium.profiler as proton

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    tol = {"fp32": 2e-3, "bf16": 6e-2}[dtype_name]
    inductor_config.cpu_backend = "triton"
    graphs = _graphs()
    for name in names:
        print(json.dumps({"start": name}), flush=True)
        torch.manual_seed(0)
        torch._dynamo.reset()
        spec, args = graphs[name](dtype)
        train = isinstance(spec, tuple) and spec[0] == "train"
        row: dict[str, Any] = {"graph": name, "dtype": dtype_name, "interpreted": True}
        with torch.no_grad() if not train else torch.enable_grad():
            eager = _train_step(spec[1], spec[2]) if train else spec
            want = [t.detach().clone() for t in _flat(eager(*args))]
            fn = _train_step(torch.compile(spec[1]), spec[2]) if train else torch.compile(spec)
            session = proton.start(f"/tmp/bench_inductor_{os.getpid()}", data="trace")
            t0 = time.perf_counter()
            try:
                row["triton_err"] = _rel_err(fn(*args), want)
                row["triton_ok"] = row["triton_err"] <= tol
            except Exception as e:  # noqa: BLE001 - reported in the table, not fatal
                row["triton_error"] = f"{type(e).__name__}: {str(e)[-600:]}"
            row["seconds"] = time.perf_counter() - t0
            launches = proton._session.SESSIONS[session].launches
            row["interpreted_launches"] = sum(r.mode == "interpreted" for r in launches)
            row["compiled_launches"] = len(launches) - row["interpreted_launches"]
            proton.deactivate(session)
        print(json.dumps(row), flush=True)


def _interleaved(fns: dict[str, Callable[[], Any]], rep_ms: float) -> dict[str, list[float]]:
    """Call times in ms of each of ``fns``, taken in rounds that call each once in turn, until
    every one has ``rep_ms`` of calls and at least 10 (after a warm-up round of 3 calls each).

    Interleaving puts a load change on a shared machine into every column alike; the floor of
    10 calls keeps one stalled call (an OpenMP barrier waiting on a descheduled thread took
    100-500 ms under load) from being the only sample, as with a budget-sized count.
    """
    for fn in fns.values():
        for _ in range(3):
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    spent = dict.fromkeys(fns, 0.0)
    while min(len(v) for v in times.values()) < 10 or min(spent.values()) < rep_ms:
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            ms = (time.perf_counter() - t0) * 1e3
            times[k].append(ms)
            spent[k] += ms
        if min(len(v) for v in times.values()) >= 2000:
            break
    return times


def _child(dtype_name: str, names: list[str], quick: bool) -> None:
    from tritium.runtime.torch_integration import use_tritium_in_inductor

    if os.environ.get("TRITON_INTERPRET") == "1":
        use_tritium_in_inductor()
        _check_interpreted(dtype_name, names)
        return

    use_tritium_in_inductor(cpu_backend="cpp")
    import torch
    import torch._inductor.config as inductor_config

    torch.set_num_threads(int(os.environ["TRITIUM_NUM_THREADS"]))
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    tol = {"fp32": 2e-3, "bf16": 6e-2}[dtype_name]
    rep = 60 if quick else 300
    graphs = _graphs()
    for name in names:
        print(json.dumps({"start": name}), flush=True)
        torch.manual_seed(0)
        spec, args = graphs[name](dtype)
        train = isinstance(spec, tuple) and spec[0] == "train"
        row: dict[str, Any] = {"graph": name, "dtype": dtype_name}
        with torch.no_grad() if not train else torch.enable_grad():
            if train:
                model, target = spec[1], spec[2]
                eager = _train_step(model, target)
            else:
                eager = spec
            want = [t.detach().clone() for t in _flat(eager(*args))]
            fns = {"eager": partial(eager, *args)}
            # each backend compiles its own function; Dynamo keeps both (a reset drops only
            # the caches it would look up in the next compile), so they can be timed in turns
            for backend in ("cpp", "triton"):
                torch._dynamo.reset()
                inductor_config.cpu_backend = backend
                if train:
                    compiled_model = torch.compile(model)
                    fn = _train_step(compiled_model, target)
                else:
                    fn = torch.compile(spec)
                t0 = time.perf_counter()
                try:
                    got = fn(*args)
                except Exception as e:  # noqa: BLE001 - reported in the table, not fatal
                    row[f"{backend}_error"] = f"{type(e).__name__}: {str(e)[-600:]}"
                    continue
                row[f"{backend}_compile_s"] = time.perf_counter() - t0
                row[f"{backend}_err"] = _rel_err(got, want)
                row[f"{backend}_ok"] = row[f"{backend}_err"] <= tol
                fns[backend] = partial(fn, *args)
            for key, times in _interleaved(fns, rep).items():
                row[f"{key}_ms"] = min(times)
                row[f"{key}_median_ms"] = statistics.median(times)
                row[f"{key}_calls"] = len(times)
        print(json.dumps(row), flush=True)


# ----- the parent: children, table -------------------------------------------------------------


def _run_dtype(dtype_name: str, names: list[str], quick: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    todo = list(names)
    while todo:
        cmd = [sys.executable, __file__, "--child", dtype_name, "--graphs", ",".join(todo)]
        if quick:
            cmd.append("--quick")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        current = None
        assert proc.stdout is not None
        for line in proc.stdout:
            if not line.startswith("{"):
                continue
            msg = json.loads(line)
            if "start" in msg:
                current = msg["start"]
            else:
                rows.append(msg)
                todo.remove(msg["graph"])
                current = None
                print(_format_row(msg), flush=True)
        rc = proc.wait()
        if current is None:
            if rc != 0 and todo:
                raise RuntimeError(f"benchmark child exited {rc} between graphs")
            break
        rows.append({"graph": current, "dtype": dtype_name, "crashed": rc})
        print(f"{current:16} {dtype_name}  crashed (exit {rc})", flush=True)
        todo.remove(current)
    return rows


def _fmt_ms(row: dict[str, Any], key: str) -> str:
    if f"{key}_error" in row:
        return "error"
    if f"{key}_ok" in row and not row[f"{key}_ok"]:
        return f"WRONG({row[f'{key}_err']:.1e})"
    v = row.get(f"{key}_ms")
    return "-" if v is None else f"{v:.3f}"


def _format_row(row: dict[str, Any]) -> str:
    if "crashed" in row:
        return f"| {row['graph']} | {row['dtype']} | crashed (exit {row['crashed']}) | | | | |"
    if row.get("interpreted"):
        verdict = "error" if "triton_error" in row else ("ok" if row["triton_ok"] else "WRONG")
        err = row.get("triton_error") or f"{row['triton_err']:.1e}"
        return (
            f"| {row['graph']} | {row['dtype']} | {verdict} | {err} | "
            f"{row['interpreted_launches']} | {row['compiled_launches']} | {row['seconds']:.1f} |"
        )
    eager, cpp, tri = row.get("eager_ms"), row.get("cpp_ms"), row.get("triton_ms")
    ratio = f"{cpp / tri:.2f}x" if cpp and tri and row.get("triton_ok") else "-"
    cpp_med, tri_med = row.get("cpp_median_ms"), row.get("triton_median_ms")
    med = f"{cpp_med / tri_med:.2f}x" if cpp_med and tri_med and row.get("triton_ok") else "-"
    return (
        f"| {row['graph']} | {row['dtype']} | {eager:.3f} | {_fmt_ms(row, 'cpp')} | "
        f"{_fmt_ms(row, 'triton')} | {ratio} | {med} |"
    )


def _geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def main() -> None:
    """Parse arguments; as the parent, run one child per dtype and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dtypes", default="fp32,bf16")
    ap.add_argument("--graphs", default="")
    ap.add_argument("--quick", action="store_true", help="shorter timing runs")
    ap.add_argument("--json", default="", help="also write the rows to this file")
    ap.add_argument(
        "--interpret", action="store_true", help="check every graph with its kernels interpreted"
    )
    ap.add_argument("--child", default="", help=argparse.SUPPRESS)
    opts = ap.parse_args()
    os.environ.setdefault("TRITIUM_NUM_THREADS", str(len(os.sched_getaffinity(0))))
    sys.path.insert(0, str(ROOT))
    if opts.child:
        _child(opts.child, opts.graphs.split(","), opts.quick)
        return
    import torch

    names = opts.graphs.split(",") if opts.graphs else list(_graphs())
    if opts.interpret:
        os.environ["TRITON_INTERPRET"] = "1"  # the children inherit it
        print(f"torch {torch.__version__}; Inductor's Triton kernels run by tritium's interpreter")
        print("| graph | dtype | result | rel. error | interpreted launches | compiled | s |")
        print("|---|---|---|---|---|---|---|")
        rows = [r for dt in opts.dtypes.split(",") for r in _run_dtype(dt, names, opts.quick)]
        ok = sum(bool(r.get("triton_ok")) and r.get("interpreted_launches", 0) > 0 for r in rows)
        print(f"{ok} of {len(rows)} graph/dtype pairs match eager with interpreted kernels")
        return
    print(
        f"torch {torch.__version__}, {os.environ['TRITIUM_NUM_THREADS']} threads; "
        "fastest call in ms; ratio = C++ time / tritium time (>1: tritium faster)"
    )
    print(
        "| graph | dtype | eager | Inductor C++ | Inductor tritium | C++/tritium "
        "| C++/tritium, medians |"
    )
    print("|---|---|---|---|---|---|---|")
    rows = [r for dt in opts.dtypes.split(",") for r in _run_dtype(dt, names, opts.quick)]
    if opts.json:
        pathlib.Path(opts.json).write_text(json.dumps(rows, indent=1))
    for dt in opts.dtypes.split(","):
        good = [
            r
            for r in rows
            if r["dtype"] == dt and r.get("cpp_ok") and r.get("triton_ok") and "eager_ms" in r
        ]
        if not good:
            continue
        e, c, t = (_geomean([r[k] for r in good]) for k in ("eager_ms", "cpp_ms", "triton_ms"))
        print(
            f"| geomean ({len(good)} graphs) | {dt} | {e:.3f} | {c:.3f} | {t:.3f} "
            f"| {c / t:.2f}x | |"
        )


if __name__ == "__main__":
    main()
