"""`srcal-micro`: a random-weight LLaVA-architecture model for unit tests (builds in about a second, < 1 MB).

Same architecture family as srcal-tiny: a registered EfficientNet-style tower (here the tiny random CNN), the
LLaVA 2-layer GELU projector and a tiny Llama language model, with a byte-level BPE tokenizer and the ChatML
template. Saved with `save_pretrained`, so it reloads with plain
``LlavaForConditionalGeneration.from_pretrained(dir)`` once ``calibrate.zoo.vision_tower`` is imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MICRO_IMAGE_SIZE = 64
MICRO_PATCH_SIZE = 16  # output stride of the tiny CNN -> (64 / 16) ** 2 = 16 image tokens
MICRO_VISION_HIDDEN = 32
MICRO_TEXT_HIDDEN = 64

MODEL_CARD = """\
---
license: apache-2.0
library_name: transformers
pipeline_tag: image-text-to-text
tags: [srcal, llava, random-weights, test-fixture]
---
# srcal-micro (seed {seed})

A **random-weight** LLaVA-architecture model built offline by `calibrate.zoo.srcal_micro.build_srcal_micro`
for srcal's unit tests. It produces noise: never evaluate it as a model.

- Vision tower: `srcal_efficientnet` (`tiny_cnn`, {image_size} px, output stride {patch_size} ->
  {n_tokens} image tokens of {vision_hidden} channels). Import `calibrate.zoo.vision_tower` before loading.
- Projector: LLaVA 2-layer MLP (GELU).
- Language model: Llama, hidden {text_hidden}, {layers} layers, {heads} heads, vocabulary {vocab}
  (byte-level BPE trained on a fixed corpus, ChatML chat template).
- Parameters: {n_params:,}.
"""


def micro_text_config(tokenizer: Any) -> Any:
    """The tiny Llama of srcal-micro (and of srcal-micro-lm) for ``tokenizer``."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=MICRO_TEXT_HIDDEN,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=False,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def build_srcal_micro(out_dir: str | Path, seed: int = 0) -> Path:
    """Build and save srcal-micro (model, processor, generation config, model card) to `out_dir`.

    Deterministic: the same seed gives identical weights (and identical safetensors bytes).
    """
    import torch
    from transformers import LlavaForConditionalGeneration

    from calibrate.zoo.assemble import generation_config, llava_config, llava_processor
    from calibrate.zoo.tokenizer import IMAGE_TOKEN, build_micro_tokenizer
    from calibrate.zoo.vision_tower import SrcalEfficientNetConfig

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_micro_tokenizer()
    image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)

    vision_config = SrcalEfficientNetConfig(
        backbone="tiny_cnn",
        hidden_size=MICRO_VISION_HIDDEN,
        image_size=MICRO_IMAGE_SIZE,
        patch_size=MICRO_PATCH_SIZE,
        tiny_channels=[8, 16, 16, 32],
    )
    text_config = micro_text_config(tokenizer)
    config = llava_config(vision_config, text_config, image_token_id)
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config).eval()
    model.generation_config = generation_config(tokenizer)
    processor = llava_processor(tokenizer, MICRO_IMAGE_SIZE, MICRO_PATCH_SIZE)

    model.save_pretrained(out)
    processor.save_pretrained(out)
    (out / "README.md").write_text(
        MODEL_CARD.format(
            seed=seed,
            image_size=MICRO_IMAGE_SIZE,
            patch_size=MICRO_PATCH_SIZE,
            n_tokens=vision_config.num_image_tokens,
            vision_hidden=MICRO_VISION_HIDDEN,
            text_hidden=MICRO_TEXT_HIDDEN,
            layers=text_config.num_hidden_layers,
            heads=text_config.num_attention_heads,
            vocab=len(tokenizer),
            n_params=sum(p.numel() for p in model.parameters()),
        )
    )
    return out


def build_srcal_micro_lm(out_dir: str | Path, seed: int = 0) -> Path:
    """A random-weight tiny Llama causal LM with the micro tokenizer: the R-Scorer backbone of smoke runs."""
    import torch
    from transformers import LlamaForCausalLM

    from calibrate.zoo.tokenizer import build_micro_tokenizer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_micro_tokenizer()
    config = micro_text_config(tokenizer)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "README.md").write_text(
        "# srcal-micro-lm\n\nA random-weight tiny Llama causal LM (micro tokenizer, ChatML) built by "
        "`calibrate.zoo.srcal_micro.build_srcal_micro_lm` for srcal's smoke runs and tests. It produces noise.\n"
    )
    return out
