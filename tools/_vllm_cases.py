"""vLLM's Triton kernels, launched as vLLM launches them, against float64 torch references.

Used by ``tools/run_libraries.py``. Each case loads the ``@triton.jit`` functions of one vLLM file
(found under the ``--vllm`` directory at its repository path) without the rest of the file: the
file's imports of vLLM need a GPU build, its kernels need only ``triton``. The kernels keep their
line numbers, so errors point at the real file. The launch arguments mirror vLLM's own Python
wrapper for the kernel (named in each case); the reference is written here, in float64.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Case:
    """One vLLM kernel: where it lives, what to call it in the table, and how to check it."""

    title: str
    paths: tuple[str, ...]
    check: Callable[[dict[str, Any]], None]
    #: Module-level names the kernels use that come from vLLM's imports (stubbed here).
    stubs: Callable[[], dict[str, Any]] | None = None


def load_jit_functions(path: Path, stubs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Execute only the ``@triton.jit`` functions of ``path`` (with ``stubs`` defined first);
    return the module namespace."""
    src = path.read_text()
    lines = src.splitlines()
    keep = [False] * len(lines)
    for node in ast.parse(src).body:
        if not isinstance(node, ast.FunctionDef):
            continue
        decos = [ast.unparse(d) for d in node.decorator_list]
        if not any("jit" in d for d in decos):
            continue
        start = min([d.lineno for d in node.decorator_list] + [node.lineno])
        for i in range(start - 1, node.end_lineno or start):
            keep[i] = True
    # Blank everything else so that line numbers (and inspect.getsource) match the file.
    out = [ln if k else "" for ln, k in zip(lines, keep)]
    out[0] = "import triton; import triton.language as tl  # noqa"
    assert not keep[0], "a kernel on line 1"
    name = f"vllm_kernels_{path.stem}"
    mod = type(sys)(name)
    mod.__file__ = str(path)
    mod.__dict__.update(stubs or {})
    sys.modules[name] = mod
    exec(compile("\n".join(out) + "\n", str(path), "exec"), mod.__dict__)
    return mod.__dict__


def _find(root: Path, paths: tuple[str, ...]) -> Path:
    for p in paths:
        if (root / p).exists():
            return root / p
    raise FileNotFoundError(f"none of {paths} under {root}")


def _poison(t: Any) -> Any:
    return t.fill_(float("nan"))


# --------------------------------------------------------------------------------------------
# Fused MoE: fused_moe_kernel, launched as invoke_fused_moe_kernel does (unquantized path).


def _moe_align(topk_ids: Any, num_experts: int, block_m: int, num_valid: int) -> tuple[Any, ...]:
    """What vLLM's ``moe_align_block_size`` produces, written plainly in torch."""
    import torch

    flat = topk_ids.flatten()
    sorted_ids: list[int] = []
    expert_ids: list[int] = []
    for e in range(num_experts):
        idx = (flat == e).nonzero().flatten().tolist()
        if not idx:
            continue
        pad = (-len(idx)) % block_m
        sorted_ids += idx + [num_valid] * pad
        expert_ids += [e] * ((len(idx) + pad) // block_m)
    # Padding to the maximum size vLLM allocates: the tail blocks are never reached.
    total = len(sorted_ids)
    sorted_ids += [num_valid] * block_m
    return (
        torch.tensor(sorted_ids, dtype=torch.int32),
        torch.tensor(expert_ids + [0], dtype=torch.int32),
        torch.tensor([total], dtype=torch.int32),
    )


def check_fused_moe(ns: dict[str, Any]) -> None:
    """Unquantized fp16 MoE GEMM with routed weights; one expert is remote (id -1: zeros)."""
    import torch
    import triton
    import triton.language as tl

    kernel = ns["fused_moe_kernel"]
    g = torch.Generator().manual_seed(1)
    m, e, n, k, top_k = 21, 4, 40, 72, 2
    a = torch.randn(m, k, generator=g).to(torch.float16)
    b = (torch.randn(e, n, k, generator=g) / 8).to(torch.float16)
    topk_ids = torch.stack([torch.randperm(e, generator=g)[:top_k] for _ in range(m)]).int()
    topk_w = torch.rand(m, top_k, generator=g, dtype=torch.float32)
    config = {"BLOCK_SIZE_M": 16, "BLOCK_SIZE_N": 32, "BLOCK_SIZE_K": 32, "GROUP_SIZE_M": 2}
    num_valid = m * top_k
    sorted_ids, expert_ids, ntpp = _moe_align(topk_ids, e, config["BLOCK_SIZE_M"], num_valid)
    remote = 3
    expert_ids[expert_ids == remote] = -1
    c = _poison(torch.empty(m, top_k, n, dtype=torch.float16))
    em = sorted_ids.shape[0]
    if m < config["BLOCK_SIZE_M"]:
        em = min(em, m * top_k * config["BLOCK_SIZE_M"])

    def grid(meta: dict[str, Any]) -> tuple[int]:
        return (triton.cdiv(em, meta["BLOCK_SIZE_M"]) * triton.cdiv(n, meta["BLOCK_SIZE_N"]),)

    cfg = dict(config)
    block_k = cfg.pop("BLOCK_SIZE_K")
    kernel[grid](
        a, b, c, None, None, topk_w, sorted_ids, expert_ids, ntpp,
        b.shape[1], b.shape[2], em, num_valid,
        a.stride(0), a.stride(1), b.stride(0), b.stride(2), b.stride(1),
        c.stride(1), c.stride(2), 0, 0, 0, 0, 0, 0, 0,
        MUL_ROUTED_WEIGHT=True, top_k=top_k, compute_type=tl.float16,
        use_fp8_w8a8=False, use_int8_w8a8=False, use_int8_w8a16=False,
        per_channel_quant=False, BLOCK_SIZE_K=block_k, num_warps=4, num_stages=3, **cfg,
    )  # fmt: skip
    ref = torch.einsum("mk,mjnk->mjn", a.double(), b.double()[topk_ids.long()])
    ref = ref * topk_w.double()[:, :, None]
    ref[topk_ids == remote] = 0.0
    torch.testing.assert_close(c.double(), ref, atol=2e-2, rtol=2e-2)


# --------------------------------------------------------------------------------------------
# Decode attention: stage 1 (MHA and grouped) and stage 2, as decode_attention_fwd launches them.


def _decode_ref(q: Any, kb: Any, vb: Any, req: Any, seqlen: Any, scale: float, page: int) -> Any:
    import torch

    bsz, hq, _ = q.shape
    hk = kb.shape[-2]
    out = torch.empty(bsz, hq, vb.shape[-1], dtype=torch.float64)
    kflat = kb.reshape(-1, hk, kb.shape[-1]).double()
    vflat = vb.reshape(-1, hk, vb.shape[-1]).double()
    for bi in range(bsz):
        n = int(seqlen[bi])
        pos = torch.arange(n)
        loc = req[bi, pos // page].long() * page + pos % page
        for h in range(hq):
            kh = h // (hq // hk)
            s = (kflat[loc, kh] @ q[bi, h].double()) * scale
            out[bi, h] = torch.softmax(s, 0) @ vflat[loc, kh]
    return out


def _decode_case(ns: dict[str, Any], hq: int, hk: int, lk: int, lv: int, page: int) -> None:
    import torch
    import triton

    g = torch.Generator().manual_seed(hq * 100 + lk)
    bsz, splits = 3, 4
    pages = 80 // page + 1  # enough pages for the longest sequence (70 tokens)
    q = torch.randn(bsz, hq, lk, generator=g).half()
    kb = torch.randn(pages, page, hk, lk, generator=g).half()
    vb = torch.randn(pages, page, hk, lv, generator=g).half()
    seqlen = torch.tensor([1, 37, 70][:bsz], dtype=torch.int32)
    req = torch.stack([torch.randperm(pages, generator=g) for _ in range(bsz)]).int()
    scale = 1.0 / lk**0.5
    logits = _poison(torch.empty(bsz, hq, splits, lv + 1, dtype=torch.float32))
    o = _poison(torch.empty(bsz, hq, lv, dtype=torch.float16))
    group = hq // hk
    if group == 1:
        ns["_fwd_kernel_stage1"][(bsz, hq, splits)](
            q, kb, vb, scale, req, seqlen, logits, req.stride(0), q.stride(0), q.stride(1),
            kb.stride(-3), kb.stride(-2), vb.stride(-3), vb.stride(-2),
            logits.stride(0), logits.stride(1), logits.stride(2),
            kv_group_num=group, BLOCK_DMODEL=triton.next_power_of_2(lk),
            BLOCK_DV=triton.next_power_of_2(lv), BLOCK_N=64, NUM_KV_SPLITS=splits,
            PAGE_SIZE=page, logit_cap=0.0, num_warps=4, num_stages=2, Lk=lk, Lv=lv,
        )  # fmt: skip
    else:
        block_h = 16
        if lk == 576:
            bd, bdpe = 512, 64
        elif lk == 288:
            bd, bdpe = 256, 32
        else:
            bd, bdpe = triton.next_power_of_2(lk), 0
        grid = (bsz, triton.cdiv(hq, min(block_h, group)), splits)
        ns["_fwd_grouped_kernel_stage1"][grid](
            q, kb, vb, scale, req, seqlen, logits, req.stride(0), q.stride(0), q.stride(1),
            kb.stride(-3), kb.stride(-2), vb.stride(-3), vb.stride(-2),
            logits.stride(0), logits.stride(1), logits.stride(2),
            kv_group_num=group, q_head_num=hq, BLOCK_DMODEL=bd, BLOCK_DPE=bdpe,
            BLOCK_DV=triton.next_power_of_2(lv), BLOCK_N=32, BLOCK_H=block_h,
            NUM_KV_SPLITS=splits, PAGE_SIZE=page, logit_cap=0.0, num_warps=4,
            num_stages=2, Lk=lk, Lv=lv,
        )  # fmt: skip
    ns["_fwd_kernel_stage2"][(bsz, hq)](
        logits, o, seqlen, logits.stride(0), logits.stride(1), logits.stride(2),
        o.stride(0), o.stride(1), NUM_KV_SPLITS=splits, BLOCK_DV=triton.next_power_of_2(lv),
        Lv=lv, num_warps=4, num_stages=2,
    )  # fmt: skip
    ref = _decode_ref(q, kb, vb, req, seqlen, scale, page)
    torch.testing.assert_close(o.double(), ref, atol=1e-2, rtol=1e-2)


def check_decode_mha(ns: dict[str, Any]) -> None:
    """MHA decode (4 heads, head dim 40, page size 4)."""
    _decode_case(ns, hq=4, hk=4, lk=40, lv=40, page=4)


def check_decode_gqa(ns: dict[str, Any]) -> None:
    """GQA decode (8 query heads on 2 KV heads, head dim 64, page size 1)."""
    _decode_case(ns, hq=8, hk=2, lk=64, lv=64, page=1)


# --------------------------------------------------------------------------------------------
# Unified attention (vLLM's Triton prefill/prefix/decode attention): kernel_unified_attention_2d
# launched as unified_attention launches it, on a batch mixing decode, prefix and prefill.


def _unified_stubs() -> dict[str, Any]:
    import torch

    # The file's ``float8_info = torch.finfo(current_platform.fp8_dtype())`` (e4m3 on CUDA).
    return {"float8_info": torch.finfo(torch.float8_e4m3fn)}


def check_unified_attention(ns: dict[str, Any], features: bool = False) -> None:
    """3 sequences (query lengths 5, 1, 9; contexts 7, 29, 0), GQA 4 on 2 heads, head size 40,
    KV blocks of 16 in shuffled block tables. ``features``: also softcap, attention sinks,
    a sliding window, ALiBi slopes and a query-query bias."""
    import torch
    import triton

    g = torch.Generator().manual_seed(7)
    qlens, ctxs = [5, 1, 9], [7, 29, 0]
    hq, hk, d, bs, nblk = 4, 2, 40, 16, 12
    num_seqs, nq = len(qlens), sum(qlens)
    seqlens = [c + q for c, q in zip(ctxs, qlens)]
    q = torch.randn(nq, hq, d, generator=g).half()
    kc = torch.randn(nblk, bs, hk, d, generator=g).half()
    vc = torch.randn(nblk, bs, hk, d, generator=g).half()
    tables = torch.stack([torch.randperm(nblk, generator=g)[:4] for _ in qlens]).int()
    starts = torch.tensor([0] + list(torch.tensor(qlens).cumsum(0)), dtype=torch.int32)
    seq_lens = torch.tensor(seqlens, dtype=torch.int32)
    out = _poison(torch.empty_like(q))
    scale = d**-0.5
    per_kv = hq // hk
    block_m = 16 if per_kv <= 16 else triton.next_power_of_2(per_kv)
    block_q = block_m // per_kv
    grid = (nq // block_q + num_seqs, hk)
    one = torch.ones(1)
    cap, window = 3.0, 6
    sinks = torch.randn(hq, generator=g) if features else None
    slopes = torch.rand(hq, generator=g) / 4 if features else None
    # The kernel loads bias rows for the padding query rows of the last Q block too (its mask
    # covers keys only): a tight [9, 9] bias is read one row past its end, which the
    # interpreter's bounds check reports. Rows of padding, as a caller must allocate.
    qq_full = torch.randn(max(qlens) + block_m, max(qlens), generator=g) if features else None
    qq = qq_full[: max(qlens)] if features else None
    ns["kernel_unified_attention_2d"][grid](
        out, q, kc, vc, sinks, tables, seq_lens, slopes, qq_full, scale, one, one, None,
        cap if features else 0.0,
        num_query_heads=hq, num_queries_per_kv=per_kv, block_table_stride=tables.stride(0),
        query_stride_0=q.stride(0), query_stride_1=q.stride(1),
        output_stride_0=out.stride(0), output_stride_1=out.stride(1),
        qq_bias_stride_0=qq.stride(0) if features else 0,
        BLOCK_SIZE=bs, TILE_SIZE=32, HEAD_SIZE=d, HEAD_SIZE_PADDED=triton.next_power_of_2(d),
        USE_ALIBI_SLOPES=features, USE_QQ_BIAS=features, USE_SOFTCAP=features,
        USE_SINKS=features, SLIDING_WINDOW=window if features else 0, USE_MM_PREFIX=False,
        mm_prefix_ranges=0,
        stride_k_cache_0=kc.stride(0), stride_k_cache_1=kc.stride(1),
        stride_k_cache_2=kc.stride(2), stride_k_cache_3=kc.stride(3),
        stride_v_cache_0=vc.stride(0), stride_v_cache_1=vc.stride(1),
        stride_v_cache_2=vc.stride(2), stride_v_cache_3=vc.stride(3),
        query_start_len_ptr=starts, BLOCK_Q=block_q, num_seqs=num_seqs, BLOCK_M=block_m,
        USE_FP8=False,
    )  # fmt: skip
    ref = torch.empty(nq, hq, d, dtype=torch.float64)
    for s in range(num_seqs):
        pos = torch.arange(seqlens[s])
        loc_b, loc_o = tables[s, pos // bs].long(), pos % bs
        k, v = kc[loc_b, loc_o].double(), vc[loc_b, loc_o].double()  # (len, hk, d)
        for i in range(qlens[s]):
            t = int(starts[s]) + i
            visible = ctxs[s] + i + 1
            kpos = torch.arange(visible)
            for h in range(hq):
                sc = (k[:visible, h // per_kv] @ q[t, h].double()) * scale
                if features:
                    sc = cap * torch.tanh(sc / cap)
                    sc = sc.masked_fill(ctxs[s] + i - kpos >= window, float("-inf"))
                    sc = sc + float(slopes[h]) * (kpos - ctxs[s])
                    rel = kpos - ctxs[s]
                    inq = (rel >= 0) & (rel < qq.shape[1])
                    sc[inq] += qq[i, rel[inq]].double()
                    # A sink is one more logit with no value row.
                    sc = torch.cat([sc, torch.tensor([float(sinks[h])], dtype=torch.float64)])
                    ref[t, h] = torch.softmax(sc, 0)[:-1] @ v[:visible, h // per_kv]
                else:
                    ref[t, h] = torch.softmax(sc, 0) @ v[:visible, h // per_kv]
    torch.testing.assert_close(out.double(), ref, atol=1e-2, rtol=1e-2)


CASES: dict[str, Case] = {
    "moe": Case(
        "vLLM fused_moe_kernel (fp16, routed weights, EP -1 block)",
        ("vllm/model_executor/layers/fused_moe/fused_moe.py",),
        check_fused_moe,
    ),
    "decode-mha": Case(
        "vLLM decode attention stage1+2 (MHA, paged)",
        ("vllm/attention/ops/triton_decode_attention.py",),
        check_decode_mha,
    ),
    "decode-gqa": Case(
        "vLLM decode attention grouped stage1+2 (GQA)",
        ("vllm/attention/ops/triton_decode_attention.py",),
        check_decode_gqa,
    ),
    "unified": Case(
        "vLLM unified attention 2d (prefill+prefix+decode, GQA, paged)",
        ("vllm/attention/ops/triton_unified_attention.py",),
        check_unified_attention,
        _unified_stubs,
    ),
    "unified-features": Case(
        "vLLM unified attention 2d + softcap, sinks, sliding window, ALiBi, qq bias",
        ("vllm/attention/ops/triton_unified_attention.py",),
        lambda ns: check_unified_attention(ns, features=True),
        _unified_stubs,
    ),
}


def run(key: str, root: Path) -> None:
    """Load the case's kernel file under ``root`` and run its check (raises on a mismatch)."""
    case = CASES[key]
    stubs = case.stubs() if case.stubs else None
    case.check(load_jit_functions(_find(root, case.paths), stubs))
