"""The shipped-source mechanism: `pulumi destroy` runs the code that created the resource.

dill would pickle the provider class by reference (an import path; see
https://github.com/pulumi/pulumi/issues/7453), so destroy would run whatever
`components/` holds then, or fail if it is not importable. `ImageBuildProvider.__reduce__`
ships the source of every module of this package instead (`MODULES`, in import order);
loading rebuilds them in a private package named after the sources' hash, so several
provider versions can coexist in one provider host. Only the standard library and
third-party packages (pulumi.dynamic, httpx, tenacity) are imported normally.

The loader travels with the sources: state written by older versions keeps its own loader.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Import order: each module imports only modules before it.
MODULES = (
    "base",
    "retry",
    "rest",
    "actions",
    "registry",
    "packages",
    "spec",
    "run_errors",
    "runs",
    "images",
    "shipping",
    "provider",
)

# Set by the loader when this package was rebuilt from serialized source.
_SERIALIZED_SOURCES: dict[str, str] | None = None

# Runs inside `eval` when state is unpickled. Keep it small and stable.
_LOADER = """
def _load(sources, order, state):
    import hashlib, linecache, sys, types
    digest = hashlib.sha256(
        "\\0".join(name + "\\0" + sources[name] for name in sorted(sources)).encode()
    ).hexdigest()[:16]
    package = "_tims_stack_image_build_" + digest
    entry = package + "." + order[-1]
    if entry not in sys.modules:
        parent = types.ModuleType(package)
        parent.__path__ = []
        parent.__package__ = package
        sys.modules[package] = parent
        try:
            for name in order:
                full = package + "." + name
                filename = "<serialized " + full + ">"
                linecache.cache[filename] = (
                    len(sources[name]), None, sources[name].splitlines(True), filename
                )
                module = types.ModuleType(full)
                module.__file__ = filename
                module.__package__ = package
                sys.modules[full] = module
                setattr(parent, name, module)
                exec(compile(sources[name], filename, "exec"), module.__dict__)
                module._SERIALIZED_SOURCES = dict(sources)
        except BaseException:
            for key in [k for k in sys.modules if k == package or k.startswith(package + ".")]:
                del sys.modules[key]
            raise
    return sys.modules[entry]._restore_provider(state)
"""
_BOOTSTRAP = "exec(_loader, globals()) or _load(_sources, _order, _state)"


def module_sources() -> dict[str, str]:
    """Sources by module name, sorted by name (state round trips keep no other order)."""
    if _SERIALIZED_SOURCES:
        return dict(sorted(_SERIALIZED_SOURCES.items()))
    here = Path(__file__).parent
    return {name: (here / f"{name}.py").read_text(encoding="utf-8") for name in sorted(MODULES)}


def reduce(state: dict[str, Any]) -> tuple[Any, ...]:
    """`__reduce__` value of a provider: the code and `state`, never runtime objects."""
    sources = module_sources()
    # The import order made of the sources' own keys: the same objects whether this code was
    # imported or loaded from state, so both pickle to the same bytes.
    order = sorted(sources, key=MODULES.index)
    namespace = {"_loader": _LOADER, "_sources": sources, "_order": order, "_state": state}
    return (eval, (_BOOTSTRAP, namespace))
