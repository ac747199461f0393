"""Ctrl-C during a compiled kernel: a native SIGINT handler that raises a stop flag.

While a launch runs, the Python thread that called it is inside a ctypes call: Python's own
SIGINT handler only records the signal, and the ``KeyboardInterrupt`` would come after the
whole grid has run. So a tiny native handler (LLVM IR, compiled once per process) is chained in
front of Python's: it sets a process-wide stop word, then calls Python's handler as before. The
launcher's workers read the word between programs and stop; the launch then raises
``KeyboardInterrupt`` and the process carries on (the kernel's outputs are partly written, as
with any interrupted computation).

The handler is installed at the first launch and only when SIGINT is handled by a function
(Python's default); after a later ``signal.signal(SIGINT, ...)`` Python's handler replaces it,
and kernels then run to the end before the interrupt is seen, as before.
"""

from __future__ import annotations

import ctypes
import os
import signal
import threading
from typing import TYPE_CHECKING

from tritium.backends.cpu.hostinfo import LazyModule

if TYPE_CHECKING:
    import llvmlite.ir as ll

    from tritium.backends.cpu import llvm_utils as lu
else:
    # only building the handler needs these: its object is in the disk cache after the first
    # process (issue 13, first launch in a new process)
    ll = LazyModule("llvmlite.ir")
    lu = LazyModule("tritium.backends.cpu.llvm_utils")

__all__ = ["STOP", "install", "stop_address"]

#: The stop word the workers poll (non-zero: stop); its address is passed to every launch.
STOP = ctypes.c_int32(0)
_previous = ctypes.c_uint64(0)  # Python's handler, called after ours
_lock = threading.Lock()
_installed = False
_SYMBOL = "tritium_sigint_v1"


class _Sigaction(ctypes.Structure):
    """glibc's ``struct sigaction`` on Linux (x86-64 and AArch64)."""

    _fields_ = [
        ("handler", ctypes.c_void_p),
        ("mask", ctypes.c_uint64 * 16),
        ("flags", ctypes.c_int),
        ("restorer", ctypes.c_void_p),
    ]


class _HandlerPtr:
    def __init__(self, value: ll.Value) -> None:
        self.value = value
        self.function_type = _handler_type()
        self.type = lu.PTR

    def get_reference(self) -> str:
        return self.value.get_reference()


def stop_address() -> int:
    """Address of the stop word (the launcher's last argument)."""
    return ctypes.addressof(STOP)


#: the stop word and the previous handler, as symbols the handler's object code refers to: its
#: IR holds no addresses, so its object is cached across processes (issue 13)
_STOP_SYMBOL, _PREVIOUS_SYMBOL = "tritium_sigint_stop_v1", "tritium_sigint_previous_v1"


def _handler_type() -> ll.FunctionType:
    return ll.FunctionType(lu.VOID, [lu.I32, lu.PTR, lu.PTR])


def _handler_ir() -> str:
    m = ll.Module(name="tritium_sigint")
    fn = ll.Function(m, _handler_type(), name=_SYMBOL)
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    stop = ll.GlobalVariable(m, lu.I32, _STOP_SYMBOL)
    previous = ll.GlobalVariable(m, lu.I64, _PREVIOUS_SYMBOL)
    b.atomic_rmw("xchg", stop, ll.Constant(lu.I32, 1), "seq_cst")
    prev = b.load(previous, typ=lu.I64)
    chain = fn.append_basic_block("chain")
    done = fn.append_basic_block("done")
    b.cbranch(b.icmp_unsigned(">", prev, ll.Constant(lu.I64, 1)), chain, done)
    b.position_at_end(chain)
    b.call(_HandlerPtr(b.inttoptr(prev, lu.PTR)), list(fn.args))
    b.branch(done)
    b.position_at_end(done)
    b.ret_void()
    return str(m)


def install() -> None:
    """Chain the native handler in front of the current SIGINT handler (once per process; a
    no-op where SIGINT is ignored or left to the default action, or off Linux)."""
    global _installed
    if _installed:
        return
    with _lock:
        if _installed:
            return
        _installed = True
        if not os.uname().sysname == "Linux":
            return
        try:
            from tritium.backends.cpu.hostinfo import source_digest
            from tritium.backends.cpu.target import add_symbol, cached_object, load_object

            libc = ctypes.CDLL(None, use_errno=True)
            old = _Sigaction()
            if libc.sigaction(signal.SIGINT, None, ctypes.byref(old)) != 0:
                return
            if not old.handler or old.handler == 1:  # SIG_DFL, SIG_IGN: nothing to chain
                return
            add_symbol(_STOP_SYMBOL, ctypes.addressof(STOP))
            add_symbol(_PREVIOUS_SYMBOL, ctypes.addressof(_previous))
            key = "sigint handler " + source_digest(__name__, "tritium.backends.cpu.llvm_utils")
            obj = cached_object(key, _handler_ir)
            new = _Sigaction()
            ctypes.memmove(ctypes.byref(new), ctypes.byref(old), ctypes.sizeof(old))
            _previous.value = old.handler
            new.handler = load_object(obj, _SYMBOL)
            libc.sigaction(signal.SIGINT, ctypes.byref(new), None)
        except Exception:  # noqa: BLE001 - never fatal: kernels then just run to the end
            return  # no interruptible kernels here; they still run to the end
