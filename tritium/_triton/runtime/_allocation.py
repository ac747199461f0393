"""``triton.runtime._allocation``: the scratch-memory allocator hook."""

from tritium.runtime.utils import NullAllocator, get_allocator, set_allocator  # noqa: F401
