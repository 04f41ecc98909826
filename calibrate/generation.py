"""Batched generation for LLaVA-style models: chat prompts, left padding, KV cache.

Used wherever srcal generates: the zoo build's evaluation, candidate search and the
harness. Prompts are rendered with the processor's chat template (a user turn holding
the image and the text); a batch is left-padded so that every row's continuation starts
at the same position, and ``generate`` reuses its KV cache across steps.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any


def user_turn(text: str, with_image: bool = True) -> list[dict[str, Any]]:
    """A one-turn conversation in the list-of-parts form trl and the chat template accept."""
    content: list[dict[str, Any]] = [{"type": "image"}] if with_image else []
    content.append({"type": "text", "text": text})
    return [{"role": "user", "content": content}]


def assistant_turn(text: str) -> list[dict[str, Any]]:
    """A response in the conversational form trl's SFT/DPO datasets take."""
    return [{"role": "assistant", "content": [{"type": "text", "text": text}]}]


def item_turn(item: Any, style: str) -> list[dict[str, Any]]:
    """The user turn asking a benchmark item's question in prompt ``style``."""
    from benchmarks.prompts import build_prompt

    return user_turn(build_prompt(item.question, item.choices, style=style))


def load_rgb(path: Any) -> Any:
    """An image file as an RGB PIL image, fully read (the file is closed)."""
    from PIL import Image

    with Image.open(path) as image:
        return image.convert("RGB")


def chat_prompt(processor: Any, text: str, with_image: bool = True) -> str:
    """The model-ready prompt string for ``text`` (image placeholder included)."""
    return processor.apply_chat_template(
        user_turn(text, with_image), add_generation_prompt=True, tokenize=False
    )


def batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def generate_texts(
    model: Any,
    processor: Any,
    images: Sequence[Any],
    prompts: Sequence[str],
    max_new_tokens: int = 32,
    batch_size: int = 16,
    **generate_kwargs: Any,
) -> list[str]:
    """Greedy (unless ``generate_kwargs`` say otherwise) continuations of chat ``prompts`` on ``images``.

    ``prompts`` are user texts; the chat template and image placeholder are added here.
    Returns the decoded continuations without special tokens.
    """
    import torch

    if len(images) != len(prompts):
        raise ValueError(f"{len(images)} images for {len(prompts)} prompts")
    tokenizer = processor.tokenizer
    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    outputs: list[str] = []
    kwargs = {"do_sample": False, "max_new_tokens": max_new_tokens, "pad_token_id": tokenizer.pad_token_id}
    kwargs.update(generate_kwargs)
    for index in batches(range(len(prompts)), batch_size):
        texts = [chat_prompt(processor, prompts[i]) for i in index]
        batch_images = [images[i] for i in index]
        inputs = processor(images=batch_images, text=texts, return_tensors="pt", padding=True).to(device)
        with torch.inference_mode():
            generated = model.generate(**inputs, **kwargs)
        new_tokens = generated[:, inputs["input_ids"].shape[1] :]
        outputs.extend(t.strip() for t in tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
    return outputs
