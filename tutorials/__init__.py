"""Triton's tutorial kernels (01 vector add, 02 fused softmax, 03 matmul, 04 low-memory
dropout, 05 layer norm), unmodified but for the imports, with host wrappers that take NumPy
arrays or torch CPU tensors.

``python tutorials/demo.py`` runs 01, 02, 03 and 05; ``tests/kernels`` checks them all against
NumPy.
"""
