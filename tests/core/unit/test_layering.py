"""The core never imports napari, Qt or magicgui; the CLI's --help stays light."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("napari", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "magicgui", "vispy")


def test_core_imports_no_gui_library():
    code = (
        "import sys\n"
        "import napari_sam2.core, napari_sam2.core.session, napari_sam2.core.images, napari_sam2.core.provenance\n"
        "import napari_sam2.core.sample, napari_sam2.cli\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_help_does_not_import_torch_or_transformers():
    code = (
        "import sys\nfrom napari_sam2.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'transformers') if m in sys.modules]\n"
        "print(heavy); sys.exit(1 if heavy else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _module_imports() -> dict[str, set[str]]:
    """Every napari_sam2 module and the napari_sam2 modules it imports, anywhere in it (at the
    top, inside functions, under TYPE_CHECKING), read with ``ast``."""
    import ast
    from pathlib import Path

    import napari_sam2

    root = Path(napari_sam2.__file__).parent
    names = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {}
    for module, path in names.items():
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, *([base] if base else [])])
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in names else base for alias in node.names]
            else:
                continue
            found |= {t for t in targets if t in names and t != module}
        graph[module] = found
    return graph


def test_no_import_cycle():
    """A package's modules form a tree: no module reaches itself through its imports."""
    graph = _module_imports()
    cycles = []

    def visit(module, path, seen):
        for nxt in sorted(graph[module]):
            if nxt in path:
                cycles.append(" -> ".join(path[path.index(nxt) :] + [nxt]))
            elif nxt not in seen:
                seen.add(nxt)
                visit(nxt, [*path, nxt], seen)

    for start in sorted(graph):
        visit(start, [start], {start})
    assert not cycles, "import cycles:\n" + "\n".join(sorted(set(cycles))[:20])
    assert len(graph) > 50  # the walk found the package
