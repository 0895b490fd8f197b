"""A Griffe extension for the API pages: the numpydoc cross-reference roles of the docstrings
(``:class:`Problem```, ``:func:`specgd.run```, ``:mod:`specgd.runner.subspace```...) become
links to the documented object, or plain code where the target is not on the API pages
(a private helper, an undocumented module), so no raw role reaches the site.

A name is looked up as Python would from the docstring's object (its members, its module's
names and imports), then as a full path. Which objects the API pages show is read from their
``::: module`` lines and ``members:`` lists, with the ``public`` filter of mkdocs.yml.
"""

from __future__ import annotations

import re
from functools import cached_property, partial
from pathlib import Path

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|mod|meth|data|attr|obj|exc|const):`(~?)([^`<>]+)`")
API_PAGES = Path(__file__).resolve().parent.parent / "api"


class SphinxRoles(griffe.Extension):
    """Rewrites the roles of every docstring of the package once it is loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:
        self.package = pkg
        for obj in _walk(pkg):
            if obj.docstring is not None and ":`" in obj.docstring.value:
                obj.docstring.value = ROLE.sub(partial(self._link, obj), obj.docstring.value)

    def _link(self, obj: griffe.Object, match: re.Match) -> str:
        short, name = match.group(1) == "~", match.group(2).strip().removesuffix("()")
        label = name.rsplit(".", 1)[-1] if short else name
        path = self._resolve(obj, name)
        if path is None or not self._shown(path):
            return f"`{label}`"
        return f"[`{label}`][{path}]"

    def _resolve(self, obj: griffe.Object, name: str) -> str | None:
        """The full path of ``name`` as seen from ``obj``, or None."""
        if self._lookup(name) is not None:  # a full path (``specgd.run``)
            return name
        head, _, rest = name.partition(".")
        for scope in (obj, *_parents(obj)):
            try:
                base = scope.resolve(head)
            except (griffe.NameResolutionError, AttributeError, ValueError):
                continue
            return f"{base}.{rest}" if rest else base
        return None

    def _lookup(self, path: str) -> griffe.Object | griffe.Alias | None:
        root, _, rest = path.partition(".")
        if root != self.package.name:
            return None
        try:
            return self.package[rest] if rest else self.package
        except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
            return None

    def _shown(self, path: str) -> bool:
        """Whether the API pages render an object at ``path`` (or at what it aliases)."""
        target = self._lookup(path)
        if target is None:
            return False
        paths = {path}
        try:
            paths.add(target.final_target.path if isinstance(target, griffe.Alias) else target.path)
        except (griffe.AliasResolutionError, griffe.CyclicAliasError):
            pass
        return any(self._under_page(p) for p in paths)

    def _under_page(self, path: str) -> bool:
        """Whether the page of the innermost documented module holding ``path`` shows it."""
        holders = [m for m in self.pages if path == m or path.startswith(m + ".")]
        if not holders:
            return False
        module = max(holders, key=len)
        if path == module:
            return True
        parts = path[len(module) + 1:].split(".")
        members = self.pages[module]
        if any(p.startswith("_") for p in parts) or (members is not None and parts[0] not in members):
            return False
        owner = self._lookup(module)
        if owner is None or parts[0] not in owner.members:
            return False
        exported = owner.exports
        if exported is not None:
            return parts[0] in {str(name) for name in exported}
        return not owner.members[parts[0]].is_alias  # an import is not shown on the module's page

    @cached_property
    def pages(self) -> dict[str, list[str] | None]:
        """Each module rendered by a ``:::`` line, with its ``members:`` list if it has one."""
        shown: dict[str, list[str] | None] = {}
        for page in sorted(API_PAGES.glob("*.md")):
            lines = page.read_text(encoding="utf-8").splitlines()
            for i, line in enumerate(lines):
                if not line.startswith("::: "):
                    continue
                members = None
                for follow in lines[i + 1:]:
                    if follow.startswith("::: ") or (follow.strip() and not follow.startswith(" ")):
                        break
                    if follow.strip() == "members:":
                        members = []
                    elif members is not None and follow.strip().startswith("- "):
                        members.append(follow.strip()[2:].strip())
                shown[line[4:].strip()] = members
        return shown


def _walk(obj: griffe.Object):
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _walk(member)


def _parents(obj: griffe.Object):
    while obj.parent is not None:
        obj = obj.parent
        yield obj
