"""A Thinc shim for a torch module that is built late, from a JSON config.

The module does not exist when the Thinc model is constructed: it is built in
the layer's ``init`` (from a preset or a checkpoint) or when the model is
deserialized. Serialized, it is one safetensors blob whose metadata holds the
module's JSON config: no pickle, and everything needed to rebuild it.
"""

import json
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional

import numpy
from safetensors import SafetensorError
from thinc.api import Optimizer, PyTorchShim

from ..errors import UserError
from ..extras import ensure_torch

if TYPE_CHECKING:
    import torch

CONFIG_KEY = "config"


class LateTorchShim(PyTorchShim):
    """A ``PyTorchShim`` whose module is set by :meth:`set_module` or :meth:`from_bytes`.

    build: makes the module from its JSON-able config (used by ``from_bytes``).
    what: a name for error messages, e.g. ``"ELMo encoder"``.
    after_update: called with the module after an optimizer step changed it.
    CPU only (spaCy's CPU ops); parameters of any shape, 0-d included.
    """

    def __init__(
        self,
        build: Callable[[Dict[str, Any]], "torch.nn.Module"],
        *,
        what: str,
        after_update: Optional[Callable[["torch.nn.Module"], None]] = None,
    ) -> None:
        ensure_torch()
        super().__init__(None)
        self.build = build
        self.what = what
        self.after_update = after_update
        self.module_config: Optional[Dict[str, Any]] = None

    @property
    def module(self) -> "torch.nn.Module":
        if self._model is None:
            raise ValueError(f"the {self.what} is not built yet: initialize the model (or load it) first")
        return self._model

    @property
    def is_built(self) -> bool:
        return self._model is not None

    def set_module(self, module: "torch.nn.Module", config: Dict[str, Any]) -> None:
        """Use ``module``, which ``build(config)`` would rebuild."""
        self._model = module
        self.module_config = config

    def finish_update(self, optimizer: Optimizer) -> None:
        """Apply the thinc optimizer to every parameter with a gradient.

        Each parameter gets fresh storage (``.data`` is replaced, as thinc's
        ``PyTorchShim`` does, so a graph recorded before the update can still
        be backpropagated), then ``after_update`` runs (e.g. to drop caches).
        """
        if self._model is None:
            return
        import torch

        updated = False
        for name, param in self._model.named_parameters():
            if param.grad is None:
                continue
            value, _ = optimizer(
                (self.id, name), param.data.numpy().reshape(-1).copy(), param.grad.numpy().reshape(-1).copy()
            )
            param.data = torch.from_numpy(numpy.array(value, dtype="float32").reshape(param.shape))
            param.grad.zero_()
            updated = True
        if updated and self.after_update is not None:
            self.after_update(self._model)

    def to_bytes(self) -> bytes:
        if self._model is None:
            return b""
        from safetensors.torch import save as save_safetensors

        tensors = {name: value.detach().contiguous() for name, value in saved_state(self._model).items()}
        config = self._model.saved_spec(self.module_config) if hasattr(self._model, "saved_spec") else self.module_config
        return save_safetensors(tensors, metadata={CONFIG_KEY: json.dumps(config)})

    def from_bytes(self, bytes_data: bytes) -> "LateTorchShim":
        if not bytes_data:
            self._model = None
            self.module_config = None
            return self
        from safetensors.torch import load as load_safetensors

        try:
            tensors = load_safetensors(bytes_data)
            metadata = _metadata(bytes_data)
            config = json.loads(metadata[CONFIG_KEY])
        except (SafetensorError, KeyError, ValueError) as err:
            raise UserError(f"the saved {self.what} weights are corrupt or not ours ({err})") from None
        module = self.build(config)
        _load_state(module, tensors, what=self.what)
        self.set_module(module, config)
        return self


def _metadata(bytes_data: bytes) -> Dict[str, str]:
    """The ``__metadata__`` of a safetensors blob (8-byte header length, JSON header)."""
    header_length = int.from_bytes(bytes_data[:8], "little")
    header = json.loads(bytes_data[8 : 8 + header_length])
    return header.get("__metadata__") or {}


def saved_state(module: "torch.nn.Module") -> Dict[str, "torch.Tensor"]:
    """What is saved of ``module``: its ``saved_state()`` if it has one (e.g. leaving out
    a head), else its state dict; tied tensors once (safetensors refuses shared memory;
    the rebuilt module ties them again)."""
    from ..nn.state import unique_state

    state = module.saved_state() if hasattr(module, "saved_state") else module.state_dict()
    return unique_state(state)


def _load_state(module: "torch.nn.Module", tensors: Dict[str, "torch.Tensor"], *, what: str) -> None:
    expected = {name: tuple(value.shape) for name, value in saved_state(module).items()}
    found = {name: tuple(value.shape) for name, value in tensors.items()}
    if expected != found:
        raise UserError(f"the saved {what} weights do not fit its config: {describe_mismatch(expected, found)}")
    module.load_state_dict(tensors, strict=False)  # tied aliases are not in ``tensors``; the names were checked


def describe_mismatch(expected: Dict[str, tuple], found: Dict[str, tuple]) -> str:
    """A short account of how two ``{parameter: shape}`` maps differ."""
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    shapes = [f"{name} {found[name]} (expected {expected[name]})" for name in sorted(set(expected) & set(found)) if expected[name] != found[name]]
    parts = []
    if shapes:
        parts.append("shapes differ: " + ", ".join(shapes[:3]) + (" ..." if len(shapes) > 3 else ""))
    if missing:
        parts.append("missing: " + ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else ""))
    if extra:
        parts.append("unexpected: " + ", ".join(extra[:3]) + (" ..." if len(extra) > 3 else ""))
    return "; ".join(parts) or "no difference"
