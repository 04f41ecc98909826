"""The one code path that assembles a srcal LLaVA model and its processor.

Both zoo models go through it: ``srcal-micro`` (tiny random parts) and ``srcal-tiny``
(EfficientNet-Lite0 + SmolLM2-135M-Instruct). A model is a plain
``LlavaForConditionalGeneration`` with the registered ``srcal_efficientnet`` tower, the
LLaVA 2-layer GELU projector and a Llama language model; the processor is a standard
``LlavaProcessor`` (PIL CLIP image processor, ImageNet normalisation, ChatML template)
that expands ``<image>`` to exactly one token per vision feature.
"""

from __future__ import annotations

from typing import Any

from calibrate.zoo.tokenizer import CHATML_TEMPLATE, IMAGE_TOKEN


def llava_config(vision_config: Any, text_config: Any, image_token_id: int) -> Any:
    """A ``LlavaConfig`` joining the tower and language model with srcal's fixed choices."""
    from transformers import LlavaConfig

    return LlavaConfig(
        vision_config=vision_config,
        text_config=text_config,
        image_token_index=image_token_id,
        image_seq_length=vision_config.num_image_tokens,
        projector_hidden_act="gelu",
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
        tie_word_embeddings=bool(getattr(text_config, "tie_word_embeddings", False)),
    )


def llava_processor(
    tokenizer: Any,
    image_size: int,
    patch_size: int,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    select_strategy: str = "full",
) -> Any:
    """A ``LlavaProcessor`` at ``image_size`` px whose ``<image>`` expands to (size / patch)^2 tokens.

    ``mean``/``std`` default to ImageNet's (srcal's towers); ``select_strategy="default"`` is a
    CLIP tower whose CLS token is dropped (LLaVA-1.5), ``"full"`` keeps every feature.
    """
    from transformers import CLIPImageProcessorPil, LlavaProcessor
    from transformers.image_utils import PILImageResampling

    from calibrate.zoo.vision_tower import IMAGENET_MEAN, IMAGENET_STD

    tokenizer.padding_side = "left"  # batched generation; not saved by tokenizers, so also set at load
    tokenizer.init_kwargs["padding_side"] = "left"
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": image_size},
        crop_size={"height": image_size, "width": image_size},
        do_center_crop=True,
        resample=PILImageResampling.BICUBIC,
        image_mean=list(mean or IMAGENET_MEAN),
        image_std=list(std or IMAGENET_STD),
    )
    return LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=patch_size,
        vision_feature_select_strategy=select_strategy,
        num_additional_image_tokens=1 if select_strategy == "default" else 0,
        image_token=IMAGE_TOKEN,
        chat_template=CHATML_TEMPLATE,
    )


def generation_config(tokenizer: Any, max_new_tokens: int = 32) -> Any:
    """Greedy decoding ending at ChatML's ``<|im_end|>``, padding with the (distinct) pad token."""
    from transformers import GenerationConfig

    return GenerationConfig(
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
        max_new_tokens=max_new_tokens,
    )
