"""tools/offline_lm.py on small fake GGUF files: assembly from chunk wheels, and every refusal."""

from __future__ import annotations

import dataclasses
import struct
import zipfile
from pathlib import Path

import pytest

from tools.offline_lm import ModelPackages, OfflineLMError, assemble, main, read_header, sha256_of, verify


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def fake_gguf(name: str = "Tiny Test LM", arch: str = "qwen2") -> bytes:
    """A GGUF v3 file: 3 metadata keys, an F32 [4, 2] tensor and a Q8_0 [64] tensor (2 blocks of 34 bytes)."""
    kv = [
        (_string("general.architecture"), 8, _string(arch)),
        (_string("general.name"), 8, _string(name)),
        (_string("general.alignment"), 4, struct.pack("<I", 32)),
    ]
    head = b"GGUF" + struct.pack("<IQQ", 3, 2, len(kv))
    head += b"".join(key + struct.pack("<I", kind) + value for key, kind, value in kv)
    head += _string("a.weight") + struct.pack("<I", 2) + struct.pack("<QQ", 4, 2) + struct.pack("<IQ", 0, 0)
    head += _string("b.weight") + struct.pack("<I", 1) + struct.pack("<Q", 64) + struct.pack("<IQ", 8, 32)
    head += b"\0" * (-len(head) % 32)
    return head + bytes(range(100))


def spec_for(data: bytes, **kw) -> ModelPackages:
    return ModelPackages(
        packages=("fake-part1==1.0", "fake-part2==1.0", "fake-part3==1.0"),
        member=r"^fake_part\d+/data/part(\d+)\.bin$",
        name="Tiny Test LM",
        architecture="qwen2",
        size=len(data),
        sha256=None,
        license="test",
        **kw,
    )


def chunk_wheels(data: bytes, root: Path, parts: int = 3) -> list[Path]:
    step = -(-len(data) // parts)
    wheels = []
    for i in range(parts):
        wheel = root / f"fake_part{i + 1}-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(f"fake_part{i + 1}/__init__.py", "")
            archive.writestr(f"fake_part{i + 1}/data/part{i + 1:02d}.bin", data[i * step : (i + 1) * step])
        wheels.append(wheel)
    return wheels


def test_header_implies_the_file_size(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(fake_gguf())
    header = read_header(path)
    assert header.metadata["general.name"] == "Tiny Test LM" and header.tensors == 2
    assert header.expected_size == path.stat().st_size


def test_chunks_assemble_in_part_order_and_verify(tmp_path: Path) -> None:
    data = fake_gguf()
    wheels = chunk_wheels(data, tmp_path)
    out = assemble(spec_for(data), list(reversed(wheels)), tmp_path / "lm" / "m.gguf")
    assert out.read_bytes() == data
    facts = verify(out, spec_for(data))
    assert facts["sha256"] == sha256_of(out) and facts["tensors"] == 2
    assert verify(out, dataclasses.replace(spec_for(data), sha256=facts["sha256"]))["size"] == len(data)
    with pytest.raises(OfflineLMError, match="not consecutive"):
        assemble(spec_for(data), [wheels[0], wheels[2]], tmp_path / "gap.gguf")
    assert not (tmp_path / "gap.gguf").exists() and not list(tmp_path.glob(".gap.gguf.partial-*"))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: d[:-10], "truncated or padded"),
        (lambda d: d[:40], "truncated GGUF header"),
        (lambda d: b"GGML" + d[4:], "no GGUF magic"),
        (lambda d: fake_gguf(name="Another LM"), "GGUF header names 'Another LM'"),
        (lambda d: d[:-1] + b"\x07", "sha256 .* expected"),
    ],
)
def test_a_wrong_or_truncated_file_is_refused_in_one_line(tmp_path: Path, damage, message: str) -> None:
    data = fake_gguf()
    spec = dataclasses.replace(spec_for(data), sha256=sha256_of(_write(tmp_path / "good.gguf", data)))
    bad = _write(tmp_path / "bad.gguf", damage(data))
    with pytest.raises(OfflineLMError, match=message) as caught:
        verify(bad, spec)
    assert "\n" not in str(caught.value)


def test_cli_verify_exits_1_with_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = _write(tmp_path / "m.gguf", fake_gguf())
    assert main(["verify", str(path)]) == 1  # the real model's name and size: this file is neither
    err = capsys.readouterr().err.strip()
    assert err.startswith("offline_lm: error:") and "Qwen2.5 Coder 1.5B Instruct GGUF" in err
    assert len(err.splitlines()) == 1


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
