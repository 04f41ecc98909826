"""Write a random-weight model with the architecture of ``llava-hf/llava-1.5-7b-hf``.

For memory and speed checks of the paper presets where the real weights cannot be fetched
(an offline GPU machine): the model is a plain ``LlavaForConditionalGeneration`` with
LLaVA-1.5-7B's CLIP ViT-L/14-336 tower (features of the second-to-last layer, CLS dropped:
576 image tokens), 2-layer GELU projector and Llama-2-7B language model (vocabulary 32064),
saved in bf16 with a ``LlavaProcessor``. Only the tokenizer differs: srcal-micro's byte-level
BPE (a few hundred tokens, ChatML template), so prompts are longer in tokens than with
LLaVA's SentencePiece vocabulary. Its answers are noise: use it for peak memory and
seconds per step, never for a metric.

    python -m tools.llava_shape --out DIR [--shape 7b|tiny]

``tiny`` keeps every choice but the widths and depths (a few MB; checks this script on a CPU).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SHAPES = {
    "7b": {
        "vision": {
            "hidden_size": 1024,
            "intermediate_size": 4096,
            "num_hidden_layers": 24,
            "num_attention_heads": 16,
            "projection_dim": 768,
        },
        "text": {
            "hidden_size": 4096,
            "intermediate_size": 11008,
            "num_hidden_layers": 32,
            "num_attention_heads": 32,
            "num_key_value_heads": 32,
        },
    },
    "tiny": {
        "vision": {
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "projection_dim": 32,
        },
        "text": {
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 4,
        },
    },
}
IMAGE_SIZE = 336
PATCH_SIZE = 14
VOCAB_SIZE = 32064
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@contextmanager
def default_dtype(dtype: Any) -> Iterator[None]:
    """Create tensors in ``dtype`` inside the block (`torch.set_default_dtype`), restored after."""
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def build(out: Path, shape: str, seed: int = 0) -> Path:
    import torch
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    from calibrate.zoo.assemble import generation_config, llava_processor
    from calibrate.zoo.tokenizer import IMAGE_TOKEN, build_micro_tokenizer

    dims = SHAPES[shape]
    tokenizer = build_micro_tokenizer()
    processor = llava_processor(tokenizer, IMAGE_SIZE, PATCH_SIZE, CLIP_MEAN, CLIP_STD, "default")
    vision = CLIPVisionConfig(
        **dims["vision"], image_size=IMAGE_SIZE, patch_size=PATCH_SIZE, hidden_act="quick_gelu"
    )
    text = LlamaConfig(
        **dims["text"],
        vocab_size=VOCAB_SIZE,
        max_position_embeddings=4096,
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        image_seq_length=(IMAGE_SIZE // PATCH_SIZE) ** 2,
        projector_hidden_act="gelu",
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    started = time.perf_counter()
    with torch.device(device), default_dtype(torch.bfloat16):
        # initialised in bf16: an fp32 init then a cast would need 28 GB for the 7b shape (twice the model)
        model = LlavaForConditionalGeneration(config).eval()
    model.generation_config = generation_config(tokenizer)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    n_params = sum(p.numel() for p in model.parameters())
    (out / "README.md").write_text(
        f"Random weights, architecture of llava-hf/llava-1.5-7b-hf ({shape}): {n_params:,} parameters, "
        f"bf16, seed {seed}. For memory and speed checks only (tools/llava_shape.py).\n"
    )
    print(f"{out}: {n_params:,} parameters ({shape}), built in {time.perf_counter() - started:.1f} s")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="7b")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    build(args.out, args.shape, args.seed)


if __name__ == "__main__":
    main()
