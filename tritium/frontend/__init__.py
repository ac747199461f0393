"""Python AST → Tile IR: the frontend of the tritium compiler.

:func:`ast_to_ttir` compiles a kernel; :class:`CodeGenerator` visits its AST and
:class:`IREngine` is the language engine that emits IR for the ``tl.*`` builtins.
"""

from tritium.frontend.codegen import CodeGenerator
from tritium.frontend.compiler import ModuleContext, ast_to_ttir
from tritium.frontend.engine import IREngine
from tritium.frontend.tile import Tile

__all__ = ["ast_to_ttir", "CodeGenerator", "IREngine", "ModuleContext", "Tile"]
