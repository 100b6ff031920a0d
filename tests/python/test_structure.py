"""The binding's modules form layers: no import cycle (also none hidden inside
a function), bn.interop sits on top of the classes it adapts, and every enum
takes user input through the one coercion in bn._enums."""
import ast
import enum
import pathlib

import pytest

import bn
from bn._enums import Choice

PACKAGE = pathlib.Path(bn.__file__).parent


def is_delegation(node):
    """A compatibility method kept after its code moved to bn.interop: a
    docstring, ``from .interop import f`` and ``return f(...)``, nothing else."""
    if not isinstance(node, ast.FunctionDef) or len(node.body) != 3:
        return False
    doc, imp, ret = node.body
    return (isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)
            and isinstance(imp, ast.ImportFrom) and imp.level == 1 and imp.module == "interop"
            and len(imp.names) == 1 and isinstance(ret, ast.Return)
            and isinstance(ret.value, ast.Call) and isinstance(ret.value.func, ast.Name)
            and ret.value.func.id == imp.names[0].name)


def delegations_in(path):
    """Names of the compatibility delegations to bn.interop in ``path``."""
    return {node.name for node in ast.walk(ast.parse(path.read_text())) if is_delegation(node)}


def imports_of(path):
    """The bn modules ``path`` imports anywhere in its body (functions included),
    except the compatibility delegations (checked by their own test below)."""
    found = set()
    tree = ast.parse(path.read_text())
    delegating = {id(n.body[1]) for n in ast.walk(tree) if is_delegation(n)}
    for node in ast.walk(tree):
        if id(node) in delegating:
            continue
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bn."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("bn."))
    return found


GRAPH = {p.stem: imports_of(p) for p in PACKAGE.glob("*.py") if p.stem != "__init__"}


def test_the_graph_holds_the_modules():
    assert {"mlp", "batchnorm", "dense", "interop", "_enums"} <= set(GRAPH)
    assert "batchnorm" in GRAPH["interop"] and "mlp" in GRAPH["interop"]


def test_no_import_cycle():
    state = {}  # module -> "open" while being visited, "done" after

    def visit(module, path):
        if state.get(module) == "done":
            return
        if state.get(module) == "open":
            pytest.fail("import cycle: " + " -> ".join(path + [module]))
        state[module] = "open"
        for dependency in sorted(GRAPH.get(module, ())):
            visit(dependency, path + [module])
        state[module] = "done"

    for module in sorted(GRAPH):
        visit(module, [])


def test_interop_is_imported_by_nothing_but_the_package():
    assert [m for m, deps in GRAPH.items() if "interop" in deps] == []


def test_only_the_compatibility_methods_delegate_to_interop():
    """MLP and BatchNorm kept their former PyTorch/Keras methods as one-line
    delegations to bn.interop (imported when called); no other function may."""
    found = {p.stem: delegations_in(p) for p in PACKAGE.glob("*.py")}
    assert {m: names for m, names in found.items() if names} == {
        "mlp": {"from_state_dict", "state_dict", "torch_layers", "from_keras", "to_keras"},
        "batchnorm": {"from_keras", "to_keras"},
    }


def enums_in(module):
    return [v for v in vars(module).values()
            if isinstance(v, type) and issubclass(v, enum.IntEnum)
            and not issubclass(v, enum.IntFlag) and v.__module__ == module.__name__]


ENUMS = [cls for module in (bn.activations, bn.dense, bn.mlp) for cls in enums_in(module)]


def test_the_enums_were_found():
    assert {c.__name__ for c in ENUMS} == {"Activation", "Init", "Placement", "Head",
                                           "Optimizer", "Param", "Tensor"}


@pytest.mark.parametrize("cls", ENUMS, ids=lambda c: c.__name__)
def test_every_enum_takes_names_through_choice(cls):
    assert issubclass(cls, Choice)
    member = list(cls)[-1]
    assert cls.of(member) is member
    assert cls.of(int(member)) is member
    assert cls.of(member.name.lower()) is member
    assert cls.of(member.name.title()) is member
    with pytest.raises(ValueError, match=r"unknown .*'no-such-name' \(known: "):
        cls.of("no-such-name")
    with pytest.raises(ValueError, match="unknown .* 987654"):
        cls.of(987654)


def test_the_special_cases_stay_with_their_enums():
    assert bn.Init.of(None) is bn.Init.ZEROS
    assert bn.Placement.of(None) is bn.Placement.NONE
    assert bn.Placement.of(False) is bn.Placement.NONE
    with pytest.raises(ValueError, match="unknown BatchNorm placement 'middle'"):
        bn.Placement.of("middle")
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        bn.Activation.of("gelu")
