"""Python AST → Tile IR: the frontend of the tritium compiler.

:func:`ast_to_ttir` compiles a kernel. How the package is laid out:

* ``translate``      the entry point (a kernel to a module), kernel parameters, ``@jit``
                     callee specializations;
* ``codegen``        :class:`CodeGenerator`, one ``visit_X`` per Python construct, scoping,
                     compile-time folding, ``CompilationError`` with a caret;
* ``control_flow``   run-time ``if``/``for``/``while`` as ``scf`` ops, early returns;
* ``source``         a function's AST and the file positions of its nodes;
* ``engine``         :class:`IREngine`, the language engine the ``tl.*`` builtins call,
  made of mixins by op family: ``engine_base`` (constants, broadcasting, casts),
  ``engine_arith`` (operators), ``engine_math``, ``engine_shape``,
  ``engine_memory`` (loads, stores, atomics), ``block_pointer`` (block pointers and tensor
  descriptors), ``engine_reduce`` (reductions, scans, dot) and ``engine_extra`` (sort,
  flip, gather, histogram, dot_scaled, built from other ops);
* ``tile``           the tile value class;
* ``type_conversion`` language ↔ IR type mapping.
"""

from tritium.frontend.codegen import CodeGenerator
from tritium.frontend.engine import IREngine
from tritium.frontend.tile import Tile
from tritium.frontend.translate import ModuleContext, ast_to_ttir

__all__ = ["ast_to_ttir", "CodeGenerator", "IREngine", "ModuleContext", "Tile"]
