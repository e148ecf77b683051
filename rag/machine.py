"""What this machine is, and how fast the generator runs on it: for `rag info` and for every benchmark record.

Model speed differs up to 3x between the CPUs people have, mostly by vector extensions (AVX-512, VNNI, AMX) and
memory bandwidth, so a speed figure is only meaningful next to the CPU it was measured on.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rag.generation.base import ChatMessage, GenerationParams, Generator

log = logging.getLogger(__name__)

# The CPU flags that decide llama.cpp's speed, as /proc/cpuinfo spells them -> as people name them.
SPEED_FLAGS = {
    "avx2": "AVX2",
    "fma": "FMA",
    "f16c": "F16C",
    "avx512f": "AVX-512F",
    "avx512bw": "AVX-512BW",
    "avx512_vnni": "AVX-512 VNNI",
    "avx_vnni": "AVX-VNNI",
    "avx512_bf16": "AVX-512 BF16",
    "amx_tile": "AMX",
}


@dataclass(frozen=True)
class CpuInfo:
    model: str
    cores: int
    flags: tuple[str, ...]  # the SPEED_FLAGS this CPU has, by their common names

    @property
    def has_vnni(self) -> bool:
        return any("VNNI" in f for f in self.flags)

    def to_dict(self) -> dict[str, object]:
        return {"cpu": self.model, "cores": self.cores, "flags": list(self.flags), "vnni": self.has_vnni}


def cpu_info(cpuinfo: Path = Path("/proc/cpuinfo")) -> CpuInfo:
    """The CPU model and speed flags (Linux /proc/cpuinfo; elsewhere the model name only)."""
    model, flags = "", set()
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and not model:
                model = value.strip()
            elif key == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return CpuInfo(model=model or platform.processor() or platform.machine(), cores=os.cpu_count() or 1,
                   flags=tuple(name for flag, name in SPEED_FLAGS.items() if flag in flags))


@dataclass(frozen=True)
class ModelSpeed:
    """Tokens per second of one generator on one CPU: reading the prompt, and writing the answer."""

    model: str
    cpu: str
    prompt_tokens: int
    prompt_tokens_per_s: float
    generated_tokens: int
    generated_tokens_per_s: float
    measured_at: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelSpeed:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


# A prompt of about 400 tokens, the size of a short answer prompt, in plain text the model reads like a passage.
_SPEED_PROMPT = " ".join(
    f"Passage {i}: The council's review looked at {100 + i} cases over {i + 2} years and found that most "
    f"families had been seen within {i + 5} days, while a few waited longer because staff had moved on."
    for i in range(1, 11))


def measure_speed(generator: Generator, cpu: CpuInfo, *, max_tokens: int = 48) -> ModelSpeed:
    """One warm-up call, then one timed call from the same prompt with a changed first word (so no cached
    prefix is reused); greedy. Uses the backend's own counters where it has them (llama.cpp)."""
    params = GenerationParams(max_tokens=max_tokens, temperature=0.0)

    def messages(tag: str) -> list[ChatMessage]:
        return [ChatMessage("system", f"{tag} Summarise the passages in several sentences."),
                ChatMessage("user", _SPEED_PROMPT)]

    generator.generate(messages("Warm-up."), params)
    started = time.perf_counter()
    out = generator.generate(messages("Task:"), params)
    total = time.perf_counter() - started
    prompt_tokens = out.prompt_eval_tokens or out.prompt_tokens
    prompt_seconds = out.prompt_eval_seconds or out.first_token_seconds or total
    gen_tokens = out.eval_tokens or out.completion_tokens
    gen_seconds = out.eval_seconds or max(total - prompt_seconds, 1e-9)
    return ModelSpeed(model=str(generator.describe().get("model", "")), cpu=cpu.model,
                      prompt_tokens=prompt_tokens, prompt_tokens_per_s=round(prompt_tokens / prompt_seconds, 1),
                      generated_tokens=gen_tokens,
                      generated_tokens_per_s=round(gen_tokens / gen_seconds, 1) if gen_tokens else 0.0,
                      measured_at=time.strftime("%Y-%m-%d %H:%M:%S"))


def speed_file(model_cache_dir: Path) -> Path:
    return Path(model_cache_dir) / "speed.json"


def saved_speed(model_cache_dir: Path, model: str, cpu: CpuInfo) -> ModelSpeed | None:
    """The last measured speed of ``model`` on this CPU, if any."""
    try:
        data = json.loads(speed_file(model_cache_dir).read_text(encoding="utf-8"))
        return ModelSpeed.from_dict(data[f"{model} @ {cpu.model}"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_speed(model_cache_dir: Path, speed: ModelSpeed) -> None:
    path = speed_file(model_cache_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    data[f"{speed.model} @ {speed.cpu}"] = speed.to_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    tmp.replace(path)


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) if Path(path).exists() else 0
