"""The one model loader used by every srcal stage.

`load_model` takes a local directory or a hub id (``llava-hf/llava-1.5-7b-hf``), picks the model class from
``config.model_type``, loads safetensors weights only (unless ``allow_pickle``), optionally applies a PEFT
adapter (checked against the base it was trained on) and merges it. Usage::

    from calibrate.models import load_model, save_adapter

    base = load_model("path/to/srcal-micro")
    tuned = load_model("path/to/srcal-micro", adapter="runs/x/adapter", merge=True)

Adapters saved through `save_adapter` carry ``srcal_adapter.json`` (base id/path + `base_hash`); loading one
on a different base raises `AdapterMismatchError`.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.fileio import sha256_file, srcal_home

if TYPE_CHECKING:
    import torch

ADAPTER_RECORD = "srcal_adapter.json"
ADAPTER_RECORD_VERSION = 1
LLAVA_LORA_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj)"
CAUSAL_LM_LORA_TARGETS = r".*\.(q_proj|k_proj|v_proj|o_proj)"
"""A regex rather than a list: peft stores a list as a set, whose saved order varies between processes."""
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
_DTYPE_ALIASES = {
    "fp32": "float32",
    "float32": "float32",
    "float": "float32",
    "bf16": "bfloat16",
    "bfloat16": "bfloat16",
    "fp16": "float16",
    "float16": "float16",
    "half": "float16",
}
_HASH_MEMO: dict[tuple[str, int, int], str] = {}


class ModelLoadError(RuntimeError):
    """A model, processor or adapter could not be loaded (the message names the path or id)."""


class AdapterMismatchError(ModelLoadError):
    """An adapter was trained on a different base model than the one it is being applied to."""


@dataclass
class LoadedModel:
    """A loaded model with its processor and provenance.

    Attributes:
        model: the transformers model (a `PeftModel` when an adapter is applied without merging).
        processor: `ProcessorMixin` for vision-language models, a tokenizer for text-only causal LMs.
        path: the local directory or hub id as given.
        dtype: parameter dtype.
        device: device the model sits on.
        model_dir: local directory holding the base weights (the hub cache snapshot for hub ids), if known.
        adapter: adapter directory applied on top of the base, if any.
        merged: whether the adapter was merged into the weights.
        allow_pickle: whether pickle weight files count as weights (for `base_hash`).
    """

    model: Any
    processor: Any
    path: str
    dtype: torch.dtype
    device: torch.device
    model_dir: Path | None = None
    adapter: str | None = None
    merged: bool = False
    allow_pickle: bool = field(default=False, repr=False)

    @cached_property
    def base_hash(self) -> str:
        """sha256 of the base model's weight files (see `base_hash`); computed on first access."""
        if self.model_dir is None:
            raise ModelLoadError(f"no local weight files known for {self.path!r}: cannot hash the base model")
        return base_hash(self.model_dir, allow_pickle=self.allow_pickle)


# --------------------------------------------------------------------------- weight files and hashing


def weight_files(model_dir: str | Path, allow_pickle: bool = False) -> list[Path]:
    """Weight files of a model directory: its ``*.safetensors`` files, else (if allowed) its pickle files.

    Raises `ModelLoadError` for a directory with only pickle weights when `allow_pickle` is False (naming them),
    or with no weights at all.
    """
    root = Path(model_dir)
    safetensors = sorted(p for p in root.glob("*.safetensors") if p.is_file())
    if safetensors:
        return safetensors
    pickles = sorted(p for p in root.iterdir() if p.is_file() and p.name.endswith(PICKLE_SUFFIXES))
    if pickles and not allow_pickle:
        names = ", ".join(str(p) for p in pickles)
        raise ModelLoadError(
            f"{root} has only pickle weight files ({names}); srcal loads safetensors only. Convert them to "
            "safetensors, or pass allow_pickle=True if you trust the file (pickle can execute code)."
        )
    if pickles:
        return pickles
    raise ModelLoadError(f"no weight files (*.safetensors) in {root}")


def check_safetensors(files: list[Path]) -> None:
    """Open each safetensors header (cheap, memory-mapped); a corrupt or truncated file -> `ModelLoadError`."""
    from safetensors import safe_open

    for path in files:
        if path.suffix != ".safetensors":
            continue
        try:
            with safe_open(str(path), framework="pt") as handle:
                handle.keys()
        except Exception as exc:  # SafetensorError, OSError, ...
            raise ModelLoadError(f"corrupt or truncated safetensors file {path}: {exc}") from exc


def _hash_cache_file() -> Path:
    return srcal_home() / "weight_hashes.json"


def _file_sha256(path: Path) -> str:
    """sha256 of one file, memoised per (real path, size, mtime) in memory and in $SRCAL_HOME."""
    real = path.resolve()
    stat = real.stat()
    key = (str(real), stat.st_size, stat.st_mtime_ns)
    if key in _HASH_MEMO:
        return _HASH_MEMO[key]
    disk_key = f"{key[0]}|{key[1]}|{key[2]}"
    cache_path = _hash_cache_file()
    try:
        disk = json.loads(cache_path.read_text())
    except (OSError, ValueError):
        disk = {}
    digest = disk.get(disk_key)
    if digest is None:
        digest = sha256_file(real)
        disk[disk_key] = digest
        try:
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(disk, indent=0, sort_keys=True))
            tmp.replace(cache_path)
        except OSError:
            pass  # the cache is an optimisation only
    _HASH_MEMO[key] = digest
    return digest


def base_hash(model_dir: str | Path, allow_pickle: bool = False) -> str:
    """sha256 identifying a base model: over its weight files sorted by name, of "name\\0sha256(bytes)\\n".

    Per-file digests are cached by (path, size, mtime), so re-hashing an unchanged model costs only `stat`s.
    """
    h = hashlib.sha256()
    for path in weight_files(model_dir, allow_pickle=allow_pickle):
        h.update(f"{path.name}\0{_file_sha256(path)}\n".encode())
    return h.hexdigest()


# --------------------------------------------------------------------------- resolution


def _offline() -> bool:
    truthy = {"1", "ON", "YES", "TRUE"}
    if any(os.environ.get(v, "").upper() in truthy for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")):
        return True
    from huggingface_hub import is_offline_mode

    return bool(is_offline_mode())


def resolve_device(device: str = "auto") -> torch.device:
    """Device for `device`: "auto" -> cuda if available, else cpu; anything else goes to `torch.device`.

    Under a distributed launch (``LOCAL_RANK`` set by ``accelerate launch``/torchrun) "auto" is this
    process's own GPU, ``cuda:<LOCAL_RANK>``: every rank on ``cuda:0`` would share one card.
    """
    import os

    import torch

    if device == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        local = os.environ.get("LOCAL_RANK")
        return torch.device(f"cuda:{int(local) % torch.cuda.device_count()}" if local else "cuda")
    return torch.device(device)


def resolve_dtype(dtype: str | torch.dtype = "auto", device: torch.device | None = None) -> torch.dtype:
    """Dtype for `dtype`: "auto" -> bf16 on a CUDA device supporting it, else fp32; or fp32/bf16/fp16 names."""
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        dev = device or resolve_device("auto")
        if dev.type == "cuda" and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    name = _DTYPE_ALIASES.get(str(dtype).lower())
    if name is None:
        raise ValueError(f"unknown dtype {dtype!r}; use 'auto' or one of {sorted(_DTYPE_ALIASES)}")
    return getattr(torch, name)


def resolve_model_class(config: Any) -> type:
    """The model class for a config: LLaVA / LLaVA-NeXT explicitly, else image-text-to-text, else causal LM."""
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForImageTextToText,
        LlavaForConditionalGeneration,
        LlavaNextForConditionalGeneration,
    )

    model_type = getattr(config, "model_type", None)
    if model_type == "llava":
        return LlavaForConditionalGeneration
    if model_type == "llava_next":
        return LlavaNextForConditionalGeneration
    auto_map = getattr(config, "auto_map", None) or {}
    for auto_cls in (AutoModelForImageTextToText, AutoModelForCausalLM):
        if type(config) in auto_cls._model_mapping or auto_cls.__name__ in auto_map:
            return auto_cls
    raise ModelLoadError(
        f"model_type {model_type!r} is neither an image-text-to-text model nor a causal LM known to transformers"
    )


def is_text_only(model_cls: type) -> bool:
    """Whether `resolve_model_class` chose a text-only causal LM (tokenizer instead of processor)."""
    return model_cls.__name__ == "AutoModelForCausalLM"


def default_lora_targets(model: Any) -> str:
    """LoRA targets: the language model's attention projections only (the vision tower has q/v projections too)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    names = (name for name, _ in base.named_modules())
    if any(".language_model" in f".{name}" for name in names):
        return LLAVA_LORA_TARGETS
    return CAUSAL_LM_LORA_TARGETS


def _local_dir(model_id_or_dir: str) -> Path | None:
    path = Path(model_id_or_dir).expanduser()
    if path.is_dir():
        return path
    if path.is_absolute() or model_id_or_dir.startswith((".", "~")) or model_id_or_dir.count("/") > 1:
        raise ModelLoadError(f"model directory {path} does not exist")
    return None


def _hub_snapshot_dir(model_id: str) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(model_id, "config.json")
    return Path(cached).parent if isinstance(cached, str) else None


def _load_config(source: str, is_local: bool, trust_remote_code: bool) -> Any:
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
    except Exception as exc:
        if is_local:
            raise ModelLoadError(f"cannot read the model config in {source}: {exc}") from exc
        if _offline():
            raise ModelLoadError(
                f"{source!r} is not a local directory and is not in the Hugging Face cache, and the hub is offline "
                "(HF_HUB_OFFLINE=1): download it where the hub is reachable, or pass a local directory"
            ) from exc
        raise ModelLoadError(f"cannot load the config of {source!r}: {exc}") from exc


# --------------------------------------------------------------------------- loading


def load_model(
    model_id_or_dir: str | Path,
    adapter: str | Path | None = None,
    merge: bool = False,
    dtype: str = "auto",
    device: str = "auto",
    trust_remote_code: bool = False,
    allow_pickle: bool = False,
) -> LoadedModel:
    """Load a model + processor (+ adapter) for any srcal stage; the model is returned in eval mode.

    Args:
        model_id_or_dir: local directory or hub id.
        adapter: PEFT adapter directory to apply (checked against ``srcal_adapter.json`` when present).
        merge: merge the adapter into the weights (`merge_and_unload`).
        dtype: "auto" (bf16 on CUDA with bf16 support, else fp32), "fp32", "bf16", "fp16".
        device: "auto" (cuda if available, else cpu), "cpu", "cuda", "cuda:1", ...
        trust_remote_code: allow code from the model repository.
        allow_pickle: accept pickle (``.bin``) weights; off by default (safetensors only).
    """
    import calibrate.zoo.vision_tower  # noqa: F401  (registers the srcal_efficientnet tower)

    if merge and adapter is None:
        raise ValueError("merge=True needs an adapter")
    source = str(model_id_or_dir)
    local = _local_dir(source)
    if local is not None:
        check_safetensors(weight_files(local, allow_pickle=allow_pickle))
    config = _load_config(source, local is not None, trust_remote_code)
    model_cls = resolve_model_class(config)
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)

    kwargs: dict[str, Any] = {"dtype": torch_dtype, "trust_remote_code": trust_remote_code}
    kwargs["use_safetensors"] = None if allow_pickle else True
    if dev.type != "cpu":
        kwargs["device_map"] = str(dev)
    try:
        model = model_cls.from_pretrained(source, **kwargs)
    except Exception as exc:
        model_dir = local or _hub_snapshot_dir(source)
        if model_dir is not None:
            files = weight_files(model_dir, allow_pickle=allow_pickle)  # names pickle-only dirs
            check_safetensors(files)  # names a corrupt file
        raise ModelLoadError(
            f"cannot load model weights of {source!r} ({model_cls.__name__}): {exc}"
        ) from exc
    model_dir = local or _hub_snapshot_dir(source)
    processor = _load_processor(source, model_cls, trust_remote_code)

    loaded = LoadedModel(
        model=model.eval(),
        processor=processor,
        path=source,
        dtype=torch_dtype,
        device=dev,
        model_dir=model_dir,
        allow_pickle=allow_pickle,
    )
    if adapter is not None:
        _apply_adapter(loaded, Path(adapter), merge=merge, allow_pickle=allow_pickle)
    return loaded


def _load_processor(source: str, model_cls: type, trust_remote_code: bool) -> Any:
    from transformers import AutoProcessor, AutoTokenizer

    loader = AutoTokenizer if is_text_only(model_cls) else AutoProcessor
    try:
        return loader.from_pretrained(source, trust_remote_code=trust_remote_code)
    except Exception as exc:
        raise ModelLoadError(f"cannot load the {loader.__name__[4:].lower()} of {source!r}: {exc}") from exc


def read_adapter_record(adapter_dir: str | Path) -> dict[str, Any] | None:
    """The ``srcal_adapter.json`` record of an adapter directory, or None when it has none."""
    path = Path(adapter_dir) / ADAPTER_RECORD
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise ModelLoadError(f"unreadable adapter record {path}: {exc}") from exc


def _apply_adapter(loaded: LoadedModel, adapter_dir: Path, merge: bool, allow_pickle: bool) -> None:
    from peft import PeftModel

    if not (adapter_dir / "adapter_config.json").is_file():
        raise ModelLoadError(f"{adapter_dir} is not a PEFT adapter directory (no adapter_config.json)")
    safetensors = adapter_dir / "adapter_model.safetensors"
    if safetensors.is_file():
        check_safetensors([safetensors])
    elif (adapter_dir / "adapter_model.bin").is_file() and not allow_pickle:
        raise ModelLoadError(
            f"{adapter_dir / 'adapter_model.bin'} is a pickle file; srcal loads safetensors adapters only "
            "(pass allow_pickle=True if you trust it)"
        )
    record = read_adapter_record(adapter_dir)
    if record is None:
        warnings.warn(
            f"adapter {adapter_dir} has no {ADAPTER_RECORD}: cannot check it was trained on {loaded.path!r}",
            stacklevel=3,
        )
    elif record.get("base_hash") != loaded.base_hash:
        raise AdapterMismatchError(
            f"adapter {adapter_dir} was trained on base {record.get('base_model')!r} "
            f"(hash {record.get('base_hash')}), but the given base is {loaded.path!r} (hash {loaded.base_hash})"
        )
    try:
        model = PeftModel.from_pretrained(loaded.model, str(adapter_dir), is_trainable=False)
    except Exception as exc:
        raise ModelLoadError(f"cannot load adapter {adapter_dir} on {loaded.path!r}: {exc}") from exc
    loaded.model = model.merge_and_unload() if merge else model
    loaded.model.eval()
    loaded.adapter = str(adapter_dir)
    loaded.merged = merge


def save_adapter(peft_model: Any, out_dir: str | Path, base: LoadedModel) -> Path:
    """Save a PEFT adapter (safetensors) plus ``srcal_adapter.json`` recording the base id/path and hash."""
    import peft
    import transformers

    if not hasattr(peft_model, "peft_config"):
        raise TypeError(f"save_adapter needs a PeftModel, got {type(peft_model).__name__}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    peft_model.save_pretrained(str(out), safe_serialization=True)
    record = {
        "schema_version": ADAPTER_RECORD_VERSION,
        "base_model": base.path,
        "base_hash": base.base_hash,
        "peft_version": peft.__version__,
        "transformers_version": transformers.__version__,
    }
    (out / ADAPTER_RECORD).write_text(json.dumps(record, indent=2) + "\n")
    return out
