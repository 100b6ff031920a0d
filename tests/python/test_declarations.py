"""Every C function is declared, with the right types: the BN_API
declarations of include/bn/*.h are parsed here and each parameter's C type is
mapped to the ctypes type the binding must declare. A function added to a
header without a matching declaration in bn._lib fails this test.

The Python side is checked too: every public name has a docstring, and every
parameter and return of every public function and method has a type hint
that resolves."""

import ctypes
import inspect
import re
import typing
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

import bn
from bn import _lib

INCLUDE = Path(__file__).resolve().parents[2] / "include" / "bn"
HANDLES = {"bn_batchnorm": _lib.BatchNormHandle, "bn_dense": _lib.DenseHandle,
           "bn_mlp": _lib.MLPHandle, "bn_standardizer": _lib.StandardizerHandle}
ENUMS = {"bn_status", "bn_mode", "bn_activation", "bn_init", "bn_batchnorm_tensor",
         "bn_dense_tensor", "bn_mlp_placement", "bn_mlp_head", "bn_mlp_param",
         "bn_mlp_output", "bn_mlp_tensor", "bn_mlp_optimizer", "bn_batchnorm_param", "bn_standardizer_param",
         "bn_standardizer_vector"}
SCALARS = {"size_t": ctypes.c_size_t, "float": ctypes.c_float, "double": ctypes.c_double,
           "unsigned": ctypes.c_uint, "uint64_t": ctypes.c_uint64, "int": ctypes.c_int,
           "int32_t": ctypes.c_int32, "char": ctypes.c_char}
CALLBACKS = {"bn_mlp_epoch_callback": _lib.EpochCallback,
             "bn_mlp_batch_callback": _lib.BatchCallback}


def declarations():
    """{name: (return type, [parameter types])} as C type strings."""
    found = {}
    for header in sorted(INCLUDE.glob("*.h")):
        text = header.read_text()
        text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
        text = re.sub(r"//[^\n]*", " ", text)
        text = re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", " ", text, flags=re.M)
        for match in re.finditer(r"\bBN_API\b", text):
            decl = " ".join(re.split(r";", text[match.end():], maxsplit=1)[0].split())
            m = re.fullmatch(r"(.*?)\b(\w+)\s*\((.*)\)", decl)
            assert m, f"{header.name}: cannot parse {decl!r}"
            ret, name, params = m.groups()
            params = [] if params.strip() in ("", "void") else [p.strip() for p in
                                                                params.split(",")]
            # drop the parameter names
            types = [re.sub(r"\s*\b\w+$", "", p) if not p.endswith("*") else p for p in params]
            found[name] = (ret.strip(), types)
    return found


def ctype_of(c_type):
    """The ctypes type the binding must use for the C type string."""
    t = " ".join(c_type.replace("const", " ").replace("*", " * ").split())
    stars = t.count("*")
    base = t.replace("*", "").strip()
    if base == "void":
        return None if stars == 0 else ctypes.c_void_p
    if base == "char" and stars == 1:
        return ctypes.c_char_p
    if base in CALLBACKS:
        return CALLBACKS[base]
    if base in HANDLES:
        inner = HANDLES[base]
        return inner if stars == 1 else ctypes.POINTER(inner)
    if base == "bn_rng":
        inner = _lib.RngState
    elif base in ENUMS:
        inner = ctypes.c_int
    else:
        inner = SCALARS[base]
    for _ in range(stars):
        inner = ctypes.POINTER(inner)
    return inner


DECLARED = declarations()


def test_headers_were_found():
    assert len(DECLARED) > 60 and "bn_mlp_fit" in DECLARED and "bn_abi_version" in DECLARED


@pytest.mark.parametrize("name", sorted(DECLARED))
def test_function_is_declared_with_matching_types(name):
    assert name in _lib._SIGNATURES, f"{name} is in the headers but not declared in bn._lib"
    ret, params = DECLARED[name]
    restype, argtypes = _lib._SIGNATURES[name]
    assert restype == ctype_of(ret), f"{name} returns {ret}"
    assert list(argtypes) == [ctype_of(p) for p in params], f"{name}{tuple(params)}"
    fn = getattr(_lib.lib, name)
    assert fn.restype == restype and fn.argtypes == list(argtypes)


def test_nothing_declared_that_the_headers_do_not_have():
    assert set(_lib._SIGNATURES) <= set(DECLARED)


def test_handle_types_are_distinct():
    kinds = list(HANDLES.values())
    assert len({id(k) for k in kinds}) == len(kinds)
    with bn.MLP(2, [], 2) as m, pytest.raises(ctypes.ArgumentError):
        _lib.lib.bn_batchnorm_forward(m._ptr, 1, 1, None, 2, None, 2)
    with bn.Dense(2, 2) as d, pytest.raises(ctypes.ArgumentError):
        _lib.lib.bn_mlp_get(d._ptr, 1, 1, None, 0)


PUBLIC_NAMES = [(f"{module.__name__[3:]}.{name}".lstrip("."), getattr(module, name))
                for module in (bn, bn.datasets, bn.schedules, bn.recipes)
                for name in module.__all__]


def test_every_public_name_has_a_docstring_and_hints():
    for name, obj in PUBLIC_NAMES:
        if isinstance(obj, (int, str)):
            continue
        assert inspect.getdoc(obj), f"bn.{name} has no docstring"
        if inspect.isfunction(obj):
            assert "return" in obj.__annotations__, f"bn.{name} has no return type hint"
        if inspect.isclass(obj) and not issubclass(obj, BaseException):
            for attr, member in vars(obj).items():
                if attr.startswith("_") or not (inspect.isfunction(member) or
                                                isinstance(member, (property, classmethod,
                                                                    staticmethod))):
                    continue
                assert inspect.getdoc(getattr(obj, attr)), f"bn.{name}.{attr} has no docstring"


def public_callables():
    """(qualified name, function) for every public function, method, classmethod,
    staticmethod, property getter/setter and constructor that bn and its public
    modules (interop, datasets, schedules, recipes) export, including members
    inherited from the binding's own base classes (bn._handle.Handle) but not
    those of int, enum, tuple or Exception."""
    seen = set()
    for module in (bn, bn.interop, bn.datasets, bn.schedules, bn.recipes):
        for name in module.__all__:
            obj = getattr(module, name)
            qualified = f"{module.__name__}.{name}"
            if inspect.isfunction(obj):
                yield qualified, obj
            if not inspect.isclass(obj):
                continue
            for klass in reversed(obj.__mro__):
                if not klass.__module__.startswith("bn."):
                    continue
                for attr, member in vars(klass).items():
                    if attr.startswith("_") and attr not in ("__init__", "__enter__"):
                        continue
                    if isinstance(member, (classmethod, staticmethod)):
                        functions = [member.__func__]
                    elif isinstance(member, property):
                        functions = [f for f in (member.fget, member.fset) if f is not None]
                    elif inspect.isfunction(member):
                        functions = [member]
                    else:
                        continue
                    for function in functions:
                        if id(function) not in seen:
                            seen.add(id(function))
                            yield f"{qualified}.{attr}", function


PUBLIC_CALLABLES = dict(public_callables())


def test_public_callables_were_found():
    for name in ("bn.relu", "bn.MLP.fit", "bn.interop.mlp_from_keras", "bn.BatchNorm.forward",
                 "bn.datasets.load_idx", "bn.schedules.Cosine.rate", "bn.recipes.Recipe.train",
                 "bn.History.history", "bn.MLP.summary",
                 "bn.BatchNorm.__init__", "bn.Dense.backward", "bn.MLPLayer.weight",
                 "bn.Rng.state", "bn.interop.mlp_from_state_dict", "bn.MLP.close"):
        assert name in PUBLIC_CALLABLES, name
    assert len(PUBLIC_CALLABLES) > 120


@pytest.mark.parametrize("name", sorted(PUBLIC_CALLABLES))
def test_every_public_parameter_and_return_is_annotated(name):
    function = PUBLIC_CALLABLES[name]
    missing = [p.name for p in inspect.signature(function).parameters.values()
               if p.name not in ("self", "cls")
               and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               and p.name not in function.__annotations__]
    assert not missing, f"{name}: parameters without a type hint: {', '.join(missing)}"
    assert "return" in function.__annotations__, f"{name} has no return type hint"
    # the hints are strings (from __future__ import annotations): each must name
    # something that exists, or a typo would only show up in a type checker
    typing.get_type_hints(function)


def test_array_hints_are_precise():
    hints = typing.get_type_hints(bn.BatchNorm.forward)
    assert hints["x"] == npt.ArrayLike
    assert hints["return"] == npt.NDArray[np.float32]
    assert hints["out"] == typing.Optional[npt.NDArray[np.float32]]
    assert typing.get_type_hints(bn.MLP.predict)["return"] == npt.NDArray[np.int64]
    assert typing.get_type_hints(bn.softmax_cross_entropy)["labels"] == npt.ArrayLike


def test_help_reads_like_the_c_docs():
    text = inspect.getdoc(bn.BatchNorm)
    assert "running" in text and "update_factor" in text
    assert "bn_mlp_fit" in inspect.getdoc(bn.MLP.fit)
