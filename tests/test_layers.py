"""The data flow one way: every module of `kerasfer` imports only from its own layer or a lower one, and
no modules import each other in a circle.

The layers are DESIGN.md's ("Layers": a module imports only from its own layer or a lower-numbered one)::

    1  constants, utils
    2  data, models                 (neither imports the other)
    3  predict, explain
    4  report                       (renders what fairness computes; never imports fairness)
    5  fairness
    6  training
    7  comparison, study, demo
    8  export
    9  cli

`LAYERS` below mirrors that list; change both together. A module's layer is that of its top-level
sub-package or module: ``kerasfer/<sub>/...`` or ``kerasfer/<sub>.py``.

What counts as an import: every ``import kerasfer.x`` and ``from kerasfer.x import y`` (and relative
imports) anywhere in the file, at the top or inside a function. A function-level import breaks a circle
at run time, not for a reader, who still has to read both modules to understand either; so both rules
count it.

Exceptions, stated once:
- ``kerasfer/__init__.py`` is the *facade*: it re-exports the public API from whatever layer provides it
  (`train_model` from training, `compare` from comparison), so it is not held to the layer rule. A module
  that imports the facade (``from kerasfer import __version__``) depends on all it imports, so it is
  treated as importing the highest layer the facade imports.
- ``kerasfer/__main__.py`` (``python -m kerasfer``) is the command line's entry: layer 9 with cli.
- Importing ``kerasfer.a.b`` also runs ``kerasfer/a/__init__.py``; that implicit import is not an edge of
  the cycle graph (else every package would be a circle with its own modules). An explicit import of a
  package (``from kerasfer.models import X`` inside ``kerasfer/models/``) is one.

It reads the sources with `ast`: no kerasfer module (nor TensorFlow) is imported, and it runs in well
under a second.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE = "kerasfer"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE
#: DESIGN.md's "Layers", sub-package (or top-level module) → layer
LAYERS = {
    "constants": 1, "utils": 1,
    "data": 2, "models": 2,
    "predict": 3, "explain": 3,
    "report": 4,
    "fairness": 5,
    "training": 6,
    "comparison": 7, "study": 7, "demo": 7,
    "export": 8,
    "cli": 9,
}
#: same-layer sub-packages that must not import each other (DESIGN.md: "neither imports the other")
APART = (frozenset({"data", "models"}),)
#: top-level modules that DESIGN.md does not list, and the sub-package whose layer they take
ENTRY_POINTS = {"__main__": "cli"}
FACADE = PACKAGE


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the package under `root`: dotted name → file.

    Args:
        root: the package directory.

    Returns:
        ``{"kerasfer.models.encoder": Path(...), "kerasfer.models": Path(".../models/__init__.py"), ...}``.
    """
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imports_of(module: str, source: str, modules, is_package: bool = False) -> list[tuple[int, str, str]]:
    """The package modules that `source` imports, at any depth of the file.

    Args:
        module: the dotted name of the module `source` is (to resolve relative imports).
        source: its Python source.
        modules: the dotted names of the package's modules.
        is_package: whether `source` is a package's ``__init__.py``.

    Returns:
        ``(line, imported module, the import statement)`` per imported module; ``from a import b`` names
        module ``a.b`` when it exists, else ``a``.
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[:len(package) - node.level + 1]
                base = ".".join(package + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target not in modules and "." in target:  # a name inside a module: the module
                target = target.rsplit(".", 1)[0]
            if target in modules:
                found.append((node.lineno, target, ast.unparse(node)))
    return sorted(set(found))


def import_graph(root: Path = ROOT) -> tuple[dict[str, Path], dict[str, list[tuple[int, str, str]]]]:
    """The package's modules and, per module, what it imports (`imports_of`).

    Args:
        root: the package directory.

    Returns:
        ``(modules, imports)``: `module_files` and ``{module: [(line, imported module, statement), ...]}``.
    """
    modules = module_files(root)
    imports = {name: imports_of(name, path.read_text(encoding="utf-8"), modules, path.name == "__init__.py")
               for name, path in modules.items()}
    return modules, imports


@functools.lru_cache(maxsize=None)
def package_graph():
    """`import_graph` of kerasfer itself, read once for all the tests."""
    return import_graph()


def sub_package(module: str) -> str:
    """The top-level sub-package (or module) of a dotted name, ``kerasfer.models.encoder`` → ``models``."""
    sub = module.split(".")[1]
    return ENTRY_POINTS.get(sub, sub)


def layer_of(module: str, imports) -> int:
    """A module's layer; the facade's is the highest layer it imports (see the module docstring)."""
    if module == FACADE:
        return max(layer_of(target, imports) for _, target, _ in imports[FACADE] if target != FACADE)
    return LAYERS[sub_package(module)]


def layer_violations(modules, imports) -> list[tuple[str, int, str, str]]:
    """The imports up the layers, or between sub-packages kept `APART`.

    Args:
        modules: `module_files`.
        imports: `import_graph`'s imports.

    Returns:
        ``(file, line, statement, why)`` per offending import, the file relative to the package's parent.
    """
    problems = []
    for module, found in imports.items():
        if module == FACADE:
            continue
        here = layer_of(module, imports)
        for line, target, statement in found:
            there = layer_of(target, imports)
            if there > here:
                what = "the facade" if target == FACADE else sub_package(target)
                why = f"layer {here} ({sub_package(module)}) imports layer {there} ({what})"
            elif target != FACADE and frozenset({sub_package(module), sub_package(target)}) in APART:
                why = f"{sub_package(module)} and {sub_package(target)} must not import each other"
            else:
                continue
            problems.append((_where(modules, module), line, statement, why))
    return problems


def _where(modules, module: str) -> str:
    """`module`'s file relative to the directory that holds the package (``kerasfer/models/encoder.py``)."""
    return modules[module].relative_to(modules[FACADE].parents[1]).as_posix()


def cycles(imports) -> list[list[str]]:
    """The import circles: each strongly connected component of more than one module (or a module that
    imports itself), its modules sorted (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(module):
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for _, target, _ in imports.get(module, ()):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while not component or component[-1] != module:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1 or any(target == module for _, target, _ in imports.get(module, ())):
                found.append(sorted(component))

    for module in sorted(imports):
        if module not in index:
            visit(module)
    return sorted(found)


def test_the_layer_table_covers_every_sub_package():
    modules, _ = package_graph()
    missing = sorted({sub_package(name) for name in modules if name != FACADE} - set(LAYERS))
    assert not missing, (f"sub-packages with no layer: {missing}; give them one in DESIGN.md's 'Layers' and in "
                         "LAYERS here")


def test_imports_point_down_the_layers():
    modules, imports = package_graph()
    problems = [f"{file}:{line}: {statement}  ({why})"
                for file, line, statement, why in layer_violations(modules, imports)]
    assert not problems, ("imports against DESIGN.md's layers (a module imports only from its own layer or a "
                          "lower one):\n" + "\n".join(problems))


def test_no_modules_import_each_other_in_a_circle():
    modules, imports = package_graph()
    circles = cycles(imports)
    lines = []
    for circle in circles:
        lines.append("in a circle: " + ", ".join(circle))
        lines += [f"    {_where(modules, module)}:{line}: {statement}"
                  for module in circle for line, target, statement in imports[module] if target in circle]
    assert not circles, "modules that import each other (function-level imports count):\n" + "\n".join(lines)


def test_the_checks_see_every_kind_of_import(tmp_path):
    # the checks are only as good as the imports they find: top-level, function-level, relative, `import a.b`
    package = tmp_path / PACKAGE
    for name, source in {
        "__init__.py": "from kerasfer.training.loop import run\n",
        "constants.py": "",
        "data/__init__.py": "",
        "data/reader.py": "def read():\n    from kerasfer.models import net\n    import kerasfer.report.page\n",
        "models/__init__.py": "from .net import Net\n",
        "models/net.py": "from kerasfer.models import Net\nfrom kerasfer.constants import X\n",
        "report/__init__.py": "",
        "report/page.py": "from kerasfer import __version__\n",
        "training/__init__.py": "",
        "training/loop.py": "from kerasfer.data.reader import read\n",
    }.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(source)
    modules, imports = import_graph(package)
    assert imports["kerasfer.models"] == [(1, "kerasfer.models.net", "from .net import Net")]
    assert [target for _, target, _ in imports["kerasfer.data.reader"]] == ["kerasfer.models.net",
                                                                          "kerasfer.report.page"]
    assert layer_of(FACADE, imports) == LAYERS["training"]
    found = [(file, statement) for file, _, statement, _ in layer_violations(modules, imports)]
    assert found == [("kerasfer/data/reader.py", "from kerasfer.models import net"),  # data and models apart
                     ("kerasfer/data/reader.py", "import kerasfer.report.page"),  # up from 2 to 4
                     ("kerasfer/report/page.py", "from kerasfer import __version__")]  # the facade is layer 6 here
    assert cycles(imports) == [["kerasfer", "kerasfer.data.reader", "kerasfer.report.page", "kerasfer.training.loop"],
                               ["kerasfer.models", "kerasfer.models.net"]]  # a facade import from below is a circle
