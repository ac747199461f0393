"""Triton's tutorial kernels (01 vector add, 02 fused softmax, 03 matmul, 05 layer norm),
unmodified but for the imports, with host wrappers that take NumPy arrays or torch CPU tensors.

``python tutorials/demo.py`` runs them all; ``tests/kernels`` checks them against NumPy.
"""
