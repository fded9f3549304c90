"""The one restricted unpickler that every pickle-based checkpoint format goes through.

A pickle is a small program: its ``GLOBAL``/``STACK_GLOBAL``/``INST``/``OBJ``/``EXT*`` opcodes name any importable
callable and ``REDUCE`` calls it. Checkpoints from NVlabs and rosinality only ever need a handful of them (torch tensor
and storage rebuilders, ``collections.OrderedDict``, numpy array reconstruction, ``argparse.Namespace``) plus the
classes of NVlabs' own code (``torch_utils.persistence`` and ``dnnlib``), whose real implementations *execute source
code stored in the pickle*. :class:`RestrictedUnpickler` resolves every global through one allow-list: the harmless
library names map to themselves, the NVlabs names map to inert stand-ins that only record the state they are given
(:class:`PersistentObjectStub`, :class:`TFNetworkStub`, :class:`EasyDictStub`), and anything else raises
:class:`~musicvideo.errors.UnsafePickleError` naming the global. Embedded source code is kept as a string and never
compiled or executed.

torch-saved files (zip or legacy format) are read with ``torch.load(..., pickle_module=restricted_pickle_module(...))``
so that torch's own reader also resolves globals through this allow-list; storage bytes embedded in plain pickles
(``torch.storage._load_from_bytes``) go the same way.
"""

from __future__ import annotations

import _compat_pickle
import argparse
import collections
import codecs
import io
import pickle
import types
from pathlib import Path
from typing import Any, BinaryIO, Callable

import numpy as np
import torch

from ..errors import CheckpointError, UnsafePickleError

__all__ = [
    "EasyDictStub",
    "PersistentObjectStub",
    "RestrictedUnpickler",
    "TFNetworkStub",
    "restricted_load",
    "restricted_pickle_module",
    "restricted_torch_load",
]


# ---------------------------------------------------------------------------------------------------------------------
# Inert stand-ins for NVlabs classes.


class EasyDictStub(dict):
    """Stand-in for ``dnnlib.util.EasyDict``: a plain dict that also allows attribute reads."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class PersistentObjectStub:
    """What ``torch_utils.persistence._reconstruct_persistent_obj(meta)`` produces here: a record of ``meta``.

    NVlabs pickles every network module as ``meta = dict(type='class', version, module_src, class_name, state)``
    where ``state`` is the ``torch.nn.Module.__dict__`` (``_parameters``, ``_buffers``, ``_modules``,
    ``_init_kwargs``, plain attributes). We keep that state as data; ``module_src`` is kept as a string only.

    Attributes
    ----------
    class_name : str
        Name of the original class (``'Generator'``, ``'SynthesisLayer'``...).
    module_src : str
        Source code of the module that defined it (never executed).
    version : int or None
        Version of the persistence format.
    state : dict
        The pickled object state.
    """

    def __init__(self, meta: dict[str, Any]):
        if not isinstance(meta, dict):
            raise pickle.UnpicklingError("persistent object meta data is not a dict")
        self.type = meta.get("type")
        self.version = meta.get("version")
        self.class_name = str(meta.get("class_name", ""))
        src = meta.get("module_src", "")
        self.module_src = src if isinstance(src, str) else ""
        state = meta.get("state")
        self.state: dict[str, Any] = dict(state) if isinstance(state, dict) else {}

    @property
    def modules(self) -> dict[str, Any]:
        """Child modules (``_modules``), by attribute name."""
        mods = self.state.get("_modules")
        return dict(mods) if isinstance(mods, dict) else {}

    @property
    def init_kwargs(self) -> dict[str, Any]:
        """Keyword arguments the object was constructed with (``_init_kwargs``)."""
        kwargs = self.state.get("_init_kwargs")
        return dict(kwargs) if isinstance(kwargs, dict) else {}

    def state_dict(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """Parameters and persistent buffers of this module and its children, as ``nn.Module.state_dict`` names them.

        Parameters
        ----------
        prefix : str
            Prepended to every key (used in the recursion).

        Returns
        -------
        dict of str to Tensor
            Plain (non-Parameter) tensors, in module order.
        """
        out: dict[str, torch.Tensor] = {}
        non_persistent = self.state.get("_non_persistent_buffers_set") or set()
        for group in ("_parameters", "_buffers"):
            entries = self.state.get(group)
            if not isinstance(entries, dict):
                continue
            for name, value in entries.items():
                if value is None or (group == "_buffers" and name in non_persistent):
                    continue
                if isinstance(value, torch.Tensor):
                    out[prefix + name] = value.detach()
        for name, child in self.modules.items():
            if isinstance(child, PersistentObjectStub):
                out.update(child.state_dict(prefix + name + "."))
        return out

    def __repr__(self) -> str:
        return f"<pickled NVlabs {self.class_name or 'object'} (not executed)>"


class TFNetworkStub:
    """Stand-in for ``dnnlib.tflib.network.Network``: keeps the state its ``__getstate__`` wrote.

    The state holds ``version``, ``name``, ``static_kwargs``, ``components`` (name -> Network),
    ``build_module_src`` (never executed), ``build_func_name`` and ``variables`` (list of (name, ndarray)).
    """

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise pickle.UnpicklingError("TensorFlow network state is not a dict")
        self.state = dict(state)

    @property
    def version(self) -> int:
        return int(self.state.get("version", 0) or 0)

    @property
    def name(self) -> str:
        return str(self.state.get("name", ""))

    @property
    def build_func_name(self) -> str:
        return str(self.state.get("build_func_name", ""))

    @property
    def static_kwargs(self) -> dict[str, Any]:
        kwargs = self.state.get("static_kwargs")
        return dict(kwargs) if isinstance(kwargs, dict) else {}

    @property
    def components(self) -> dict[str, TFNetworkStub]:
        comps = self.state.get("components")
        if not isinstance(comps, dict):
            return {}
        return {str(k): v for k, v in comps.items() if isinstance(v, TFNetworkStub)}

    @property
    def variables(self) -> list[tuple[str, np.ndarray]]:
        out = []
        for item in self.state.get("variables") or []:
            if isinstance(item, (tuple, list)) and len(item) == 2:
                out.append((str(item[0]), np.asarray(item[1])))
        return out

    def __repr__(self) -> str:
        return f"<pickled TensorFlow network {self.name!r} (not executed)>"


def _reconstruct_persistent_obj(meta: dict[str, Any]) -> PersistentObjectStub:
    """Our replacement for ``torch_utils.persistence._reconstruct_persistent_obj``: record, never exec."""
    return PersistentObjectStub(meta)


# ---------------------------------------------------------------------------------------------------------------------
# The allow-list.

_STORAGE_NAMES = {
    "FloatStorage", "DoubleStorage", "HalfStorage", "BFloat16Storage", "LongStorage", "IntStorage", "ShortStorage",
    "CharStorage", "ByteStorage", "BoolStorage", "UntypedStorage", "TypedStorage",
}


def _numpy_global(name: str) -> Any:
    # numpy 2 moved numpy.core to numpy._core; files from either era name one of them.
    core = getattr(np, "_core", None) or np.core
    return getattr(core.multiarray, name)


def _numpy_frombuffer() -> Any:
    core = getattr(np, "_core", None) or np.core
    return core.numeric._frombuffer


_ALLOWED: dict[tuple[str, str], Callable[[], Any]] = {
    # torch tensors and parameters
    ("torch._utils", "_rebuild_tensor"): lambda: torch._utils._rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): lambda: torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor_v3"): lambda: torch._utils._rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): lambda: torch._utils._rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): lambda: torch._utils._rebuild_parameter_with_state,
    ("torch._tensor", "_rebuild_from_type_v2"): lambda: torch._tensor._rebuild_from_type_v2,
    ("torch", "Tensor"): lambda: torch.Tensor,
    ("torch.nn.parameter", "Parameter"): lambda: torch.nn.Parameter,
    ("torch", "Size"): lambda: torch.Size,
    ("torch", "device"): lambda: torch.device,
    ("torch.storage", "TypedStorage"): lambda: torch.storage.TypedStorage,
    ("torch.storage", "UntypedStorage"): lambda: torch.storage.UntypedStorage,
    # plain containers
    ("collections", "OrderedDict"): lambda: collections.OrderedDict,
    ("builtins", "set"): lambda: set,
    ("builtins", "frozenset"): lambda: frozenset,
    ("builtins", "bytearray"): lambda: bytearray,
    ("builtins", "complex"): lambda: complex,
    ("_codecs", "encode"): lambda: codecs.encode,  # protocol-2 pickles store bytes this way
    # numpy arrays, dtypes and scalars
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): lambda: _numpy_global("_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): lambda: _numpy_global("_reconstruct"),
    ("numpy.core.multiarray", "scalar"): lambda: _numpy_global("scalar"),
    ("numpy._core.multiarray", "scalar"): lambda: _numpy_global("scalar"),
    ("numpy.core.numeric", "_frombuffer"): lambda: _numpy_frombuffer(),  # protocol 5
    ("numpy._core.numeric", "_frombuffer"): lambda: _numpy_frombuffer(),
    # rosinality training arguments
    ("argparse", "Namespace"): lambda: argparse.Namespace,
    # NVlabs classes -> inert stand-ins
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): lambda: _reconstruct_persistent_obj,
    ("dnnlib.util", "EasyDict"): lambda: EasyDictStub,
    ("dnnlib", "EasyDict"): lambda: EasyDictStub,
    ("dnnlib.tflib.network", "Network"): lambda: TFNetworkStub,
}


# Harmless names of other GAN codebases: refused with a plain "unsupported" message instead of a safety one.
_KNOWN_UNSUPPORTED = {
    ("tfutil", "Network"): "a Progressive GAN (TensorFlow tfutil) network pickle",
}


def _resolve_allowed(module: str, name: str) -> Any | None:
    """The object an allowed global stands for, or None when it is not on the allow-list."""
    maker = _ALLOWED.get((module, name))
    if maker is not None:
        return maker()
    if module == "torch" and name in _STORAGE_NAMES:
        return getattr(torch, name)
    if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
        return getattr(torch, name)
    if module == "numpy.dtypes":  # numpy >= 1.25 may name dtype classes (Float32DType...)
        cls = getattr(getattr(np, "dtypes", None), name, None)
        return cls if isinstance(cls, type) and issubclass(cls, np.dtype) else None
    return None


class RestrictedUnpickler(pickle._Unpickler):  # the pure-Python unpickler, so that BUILD can be checked too
    """``pickle.Unpickler`` whose globals come only from the allow-list; anything else is refused.

    Besides ``find_class`` (every ``GLOBAL``, ``STACK_GLOBAL``, ``INST``, ``OBJ`` and ``EXT*`` opcode), the ``BUILD``
    opcode is checked: it may set the state of objects the pickle created, never attributes of an allowed class or
    function itself (which would patch library code for the rest of the process).

    Parameters
    ----------
    file : binary file
        The stream to read.
    source : str
        The checkpoint file name, used in error messages.
    **kwargs
        Passed to ``pickle.Unpickler`` (``encoding``...).

    Raises
    ------
    UnsafePickleError
        When the pickle asks for a global outside the allow-list (raised before anything is called).
    """

    source = "checkpoint"

    def __init__(self, file: BinaryIO, *, source: str | None = None, **kwargs: Any):
        super().__init__(file, **kwargs)
        if source is not None:
            self.source = source

    def find_class(self, module: str, name: str) -> Any:  # noqa: D102 - pickle hook
        # Python-2 era names (protocol < 3), as pickle's own find_class would map them.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        if (module, name) == ("torch.storage", "_load_from_bytes"):
            return self._load_storage_bytes
        obj = _resolve_allowed(module, name)
        if obj is None and (module, name) in _KNOWN_UNSUPPORTED:
            raise CheckpointError(f"checkpoint {self.source} is {_KNOWN_UNSUPPORTED[module, name]}; musicvideo "
                                  "supports StyleGAN2 / StyleGAN2-ADA and StyleGAN3 networks")
        if obj is None:
            raise UnsafePickleError(
                f"checkpoint {self.source} asks for {module}.{name}; refusing to load "
                "(musicvideo never runs code from a checkpoint)"
            )
        return obj

    def _load_build_checked(self) -> None:
        target = self.stack[-2] if len(self.stack) >= 2 else None
        if isinstance(target, (type, types.FunctionType, types.BuiltinFunctionType, types.MethodType,
                               types.ModuleType)):
            raise UnsafePickleError(
                f"checkpoint {self.source} tries to modify {getattr(target, '__qualname__', target)!s}; "
                "refusing to load (musicvideo never runs code from a checkpoint)"
            )
        pickle._Unpickler.load_build(self)

    dispatch = dict(pickle._Unpickler.dispatch)
    dispatch[pickle.BUILD[0]] = _load_build_checked

    def _load_storage_bytes(self, data: bytes) -> Any:
        """Replacement for ``torch.storage._load_from_bytes``: the bytes are a torch.save'd storage, read restricted."""
        if not isinstance(data, (bytes, bytearray)):
            raise pickle.UnpicklingError("storage data is not bytes")
        return restricted_torch_load(io.BytesIO(bytes(data)), source=self.source)


def restricted_pickle_module(source: str) -> types.ModuleType:
    """A module object usable as ``torch.load(pickle_module=...)`` that unpickles through :class:`RestrictedUnpickler`.

    Parameters
    ----------
    source : str
        The checkpoint file name, used in error messages.

    Returns
    -------
    module
        With ``Unpickler`` (a subclass bound to ``source``), ``load``, ``loads`` and ``UnpicklingError``.
    """
    unpickler_cls = type("RestrictedUnpickler", (RestrictedUnpickler,), {"source": source})
    mod = types.ModuleType("musicvideo_restricted_pickle")
    mod.Unpickler = unpickler_cls  # type: ignore[attr-defined]
    mod.load = lambda file, **kw: unpickler_cls(file, **kw).load()  # type: ignore[attr-defined]
    mod.loads = lambda data, **kw: unpickler_cls(io.BytesIO(data), **kw).load()  # type: ignore[attr-defined]
    mod.UnpicklingError = pickle.UnpicklingError  # type: ignore[attr-defined]
    mod.__version__ = "1"  # type: ignore[attr-defined]
    return mod


def restricted_load(file: BinaryIO, *, source: str) -> Any:
    """Unpickle one object from ``file`` through the allow-list.

    Parameters
    ----------
    file : binary file
        Positioned at the start of a pickle.
    source : str
        The checkpoint file name, used in error messages.

    Returns
    -------
    object
        The unpickled object; NVlabs classes come back as stand-ins.
    """
    return RestrictedUnpickler(file, source=source, encoding="latin1").load()


def restricted_torch_load(file: str | Path | BinaryIO, *, source: str) -> Any:
    """``torch.load`` (zip or legacy format) with every global resolved through the allow-list, tensors on the CPU.

    Parameters
    ----------
    file : path or binary file
        A file written by ``torch.save``.
    source : str
        The checkpoint file name, used in error messages.

    Returns
    -------
    object
        What was saved.
    """
    return torch.load(
        file, map_location="cpu", pickle_module=restricted_pickle_module(source), weights_only=False
    )
