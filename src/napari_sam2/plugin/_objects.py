"""The tracked objects: label ids, their names, and which one is selected. One copy, evented."""

from __future__ import annotations

from collections.abc import Iterable

from psygnal import Signal


class ObjectRegistry:
    """``changed`` fires after any add, rename or removal, and after a new selection."""

    changed = Signal()

    def __init__(self) -> None:
        self._names: dict[int, str] = {}
        self.selected: int | None = None

    def __contains__(self, obj: int) -> bool:
        return obj in self._names

    def __len__(self) -> int:
        return len(self._names)

    def items(self) -> list[tuple[int, str]]:
        return sorted(self._names.items())

    def name(self, obj: int) -> str:
        return self._names.get(obj, f"object {obj}")

    def add(self, *, above: int = 0, name: str | None = None) -> int:
        """A new object whose id is above every known id and ``above``; it becomes selected."""
        obj = max(max(self._names, default=0), above) + 1
        self._names[obj] = name or f"object {obj}"
        self.selected = obj
        self.changed.emit()
        return obj

    def ensure(self, ids: Iterable[int]) -> None:
        """Know these ids (prompts of them appeared); new ones get default names."""
        new = [int(o) for o in ids if int(o) not in self._names and int(o) > 0]
        for obj in new:
            self._names[obj] = f"object {obj}"
        if self.selected is None and self._names:
            self.selected = min(self._names)
        if new:
            self.changed.emit()

    def rename(self, obj: int, name: str) -> None:
        if self._names.get(obj) != name:
            self._names[obj] = name
            self.changed.emit()

    def remove(self, obj: int) -> None:
        self._names.pop(obj, None)
        if self.selected == obj:
            self.selected = min(self._names, default=None)
        self.changed.emit()

    def select(self, obj: int) -> None:
        if obj != self.selected:
            self.selected = obj
            self.changed.emit()

    def clear(self) -> None:
        self.replace({})

    def replace(self, names: dict[int, str]) -> None:
        """Know exactly these objects (another image's); the first is selected."""
        self._names = {int(o): str(n) for o, n in names.items()}
        self.selected = min(self._names, default=None)
        self.changed.emit()
