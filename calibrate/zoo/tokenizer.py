"""A tiny offline byte-level BPE tokenizer for the micro model, and the ChatML chat template.

The template follows SmolLM2-Instruct's ChatML layout (``<|im_start|>role\\n...<|im_end|>\\n``) so that the
micro model and srcal-tiny format prompts the same way. Message content may be a string or a list of parts
(``{"type": "image"}`` / ``{"type": "text", "text": ...}``, the form trl uses); an image part renders as
``<image>\\n`` in place. Assistant turns are wrapped in ``{% generation %}`` so that
``return_assistant_tokens_mask=True`` works.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

IMAGE_TOKEN = "<image>"
ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
PAD_TOKEN = "<|pad|>"
# Ids 0..4, in this order (the first three match SmolLM2's ids).
SPECIAL_TOKENS = (ENDOFTEXT, IM_START, IM_END, PAD_TOKEN, IMAGE_TOKEN)

CHATML_TEMPLATE = (
    "{%- macro render(content) -%}"
    "{%- if content is string -%}{{- content -}}"
    "{%- elif content is not none -%}{%- for part in content -%}"
    "{%- if part['type'] == 'image' -%}{{- '<image>\\n' -}}"
    "{%- elif part['type'] == 'text' -%}{{- part['text'] -}}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{%- endmacro -%}"
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['role'] == 'assistant' -%}"
    "{%- generation -%}{{- render(message['content']) + '<|im_end|>' -}}{%- endgeneration -%}{{- '\\n' -}}"
    "{%- else -%}{{- render(message['content']) + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)

# Fixed training text: short English about shapes, colours, counts, charts and answers with rationales.
CORPUS = """\
The image shows a red circle on a white background. Is the shape a circle? Yes, it is a circle.
A blue square sits next to a green triangle. What color is the square? The square is blue.
There are three yellow stars and two purple hearts in the picture. How many shapes are there? Five.
The bar chart compares sales in January, February, March and April. Which month has the highest value?
April has the highest bar, so the answer is April. The line goes up from 2010 to 2020.
Look at the diagram. The arrow points from the sun to the plant, because plants need light.
Question: What is 7 plus 5? Rationale: seven and five make twelve. Answer: 12.
Question: Is the number 9 larger than 4? Rationale: nine is greater than four. Answer: yes.
Question: Is the triangle red? Rationale: the triangle in the image is green, not red. Answer: no.
The rectangle is orange and the ellipse is gray. The brown object is on the left, the black one on the right.
Answer with a single word or number. Explain your reasoning step by step, then give the final answer.
Options: A. circle B. square C. triangle D. star. The correct option is B because the shape has four equal sides.
A man is riding a bicycle in the street. Two dogs are playing in the park near a tree.
The table shows the temperature in Seattle: it was rainy and cold in winter and sunny in summer.
The total is 3 + 4 = 7, and 10 - 6 = 4, so the difference is 4. The ratio of 8 to 2 is 4 to 1.
You are a helpful assistant. Please answer the question about the image briefly and correctly.
"""


def build_micro_tokenizer(vocab_size: int = 512) -> PreTrainedTokenizerFast:
    """Train the micro byte-level BPE on `CORPUS` (deterministic) and wrap it with special tokens + ChatML."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        show_progress=False,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    backend.train_from_iterator(CORPUS.splitlines(keepends=True), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=None,
        eos_token=IM_END,
        pad_token=PAD_TOKEN,
        unk_token=ENDOFTEXT,
        extra_special_tokens={"image_token": IMAGE_TOKEN},
        chat_template=CHATML_TEMPLATE,
        model_max_length=2048,
        padding_side="right",
        clean_up_tokenization_spaces=False,
    )
