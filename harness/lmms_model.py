"""srcal's model class for lmms-eval: ``--model srcal --model_args pretrained=DIR,adapter=DIR``.

Registered through the ``lmms_eval.models`` entry point (``pyproject.toml``), so
``lmms-eval eval --model srcal ...`` finds it. It loads through srcal's one model
loader (LoRA adapters applied and checked against their base: lmms-eval's own LLaVA
class cannot load adapters) and generates in left-padded batches with srcal's chat
prompt, so its outputs equal srcal's native engine on the same prompts.

Model args: ``pretrained`` (hub id or directory), ``adapter`` (PEFT directory),
``merge`` (bool), ``batch_size`` (int, default 8), ``device`` / ``dtype`` ("auto").
"""

from __future__ import annotations

from typing import Any

from lmms_eval.api.instance import Instance
from lmms_eval.api.model import lmms

MODEL_ID = "srcal"


def manifest() -> Any:
    """The entry-point payload: lmms-eval calls it to learn the class path."""
    from lmms_eval.models.registry_v2 import ModelManifest

    return ModelManifest(model_id=MODEL_ID, simple_class_path="harness.lmms_model.SrcalLMM")


def _flag(value: Any) -> bool:
    return str(value).lower() in ("1", "true", "yes")


class SrcalLMM(lmms):
    """A srcal checkpoint (base + optional adapter) behind lmms-eval's model API."""

    is_simple = True

    def __init__(
        self,
        pretrained: str,
        adapter: str | None = None,
        merge: bool | str = False,
        batch_size: int | str = 8,
        device: str = "auto",
        dtype: str = "auto",
        max_new_tokens: int | str = 64,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        from calibrate.models import load_model

        loaded = load_model(
            pretrained, adapter=adapter or None, merge=_flag(merge), dtype=dtype, device=device
        )
        self.loaded = loaded
        self.model = loaded.model
        self.processor = loaded.processor
        self.batch_size_per_gpu = int(batch_size)
        self.default_max_new_tokens = int(max_new_tokens)
        self._rank, self._world_size = 0, 1

    # lmms-eval reads these
    @property
    def rank(self) -> int:
        return self._rank

    @property
    def world_size(self) -> int:
        return self._world_size

    @property
    def batch_size(self) -> int:
        return self.batch_size_per_gpu

    def _doc(self, task: str, split: str, doc_id: int) -> dict[str, Any]:
        return self.task_dict[task][split][doc_id]

    def generate_until(self, requests: list[Instance]) -> list[str]:
        """Greedy generation in left-padded batches; requests grouped by identical generation settings."""
        from calibrate.generation import generate_texts

        results: list[str | None] = [None] * len(requests)
        groups: dict[str, list[int]] = {}
        for index, request in enumerate(requests):
            groups.setdefault(repr(sorted(request.args[1].items())), []).append(index)
        for indices in groups.values():
            gen_kwargs = dict(requests[indices[0]].args[1])
            until = gen_kwargs.pop("until", None)
            until = [until] if isinstance(until, str) else list(until or [])
            max_new = int(gen_kwargs.pop("max_new_tokens", self.default_max_new_tokens))
            temperature = float(gen_kwargs.pop("temperature", 0) or 0)
            extra: dict[str, Any] = {}
            if temperature > 0:
                extra = {
                    "do_sample": True,
                    "temperature": temperature,
                    "top_p": gen_kwargs.get("top_p") or 1.0,
                }
            images, prompts = [], []
            for i in indices:
                context, _, doc_to_visual, doc_id, task, split = requests[i].args
                visuals = doc_to_visual(self._doc(task, split, doc_id))
                if len(visuals) != 1:
                    raise ValueError(
                        f"srcal models take exactly one image per request, got {len(visuals)} ({task})"
                    )
                images.append(visuals[0].convert("RGB"))
                prompts.append(context)
            texts = generate_texts(
                self.model, self.processor, images, prompts, max_new, batch_size=self.batch_size, **extra
            )
            for i, text in zip(indices, texts):
                for stop in until:
                    if stop and stop in text:
                        text = text.split(stop, 1)[0]
                results[i] = text
        return [r or "" for r in results]

    def loglikelihood(self, requests: list[Instance]) -> list[tuple[float, bool]]:
        """(mean NLL of the continuation, whether it is the greedy continuation) per request.

        lmms-eval ranks multiple-choice options by the LOWEST returned value, as its LLaVA class does.
        """
        import torch

        from calibrate.generation import chat_prompt

        out: list[tuple[float, bool]] = []
        device = next(self.model.parameters()).device
        for request in requests:
            context, doc_to_target, doc_to_visual, doc_id, task, split = request.args
            doc = self._doc(task, split, doc_id)
            continuation = doc_to_target if isinstance(doc_to_target, str) else doc_to_target(doc)
            image = doc_to_visual(doc)[0].convert("RGB")
            prompt = chat_prompt(self.processor, context)
            full = self.processor(images=[image], text=[prompt + continuation], return_tensors="pt").to(
                device
            )
            n_prompt = self.processor(images=[image], text=[prompt], return_tensors="pt")["input_ids"].shape[
                1
            ]
            labels = full["input_ids"].clone()
            labels[:, :n_prompt] = -100
            with torch.inference_mode():
                result = self.model(**full, labels=labels)
            greedy = result.logits[:, n_prompt - 1 : -1].argmax(-1)
            out.append((float(result.loss), bool((greedy == full["input_ids"][:, n_prompt:]).all())))
        return out

    def generate_until_multi_round(self, requests: list[Instance]) -> list[str]:
        raise NotImplementedError("srcal models answer single-round tasks")
