"""`rag info` and rag/machine.py: the CPU flags that decide model speed, and the measured speed kept per CPU."""

import json

from rag.cli import EXIT_OK, main
from rag.generation.base import Generation
from rag.machine import CpuInfo, cpu_info, measure_speed, save_speed, saved_speed
from tests.fakes import ScriptedGenerator

CPUINFO = """processor\t: 0
model name\t: AMD EPYC 9B14
flags\t\t: fpu sse2 avx avx2 fma f16c avx512f avx512bw avx512_vnni
processor\t: 1
model name\t: AMD EPYC 9B14
flags\t\t: fpu sse2 avx avx2 fma f16c avx512f avx512bw avx512_vnni
"""


def test_cpu_model_and_the_flags_that_decide_speed(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    cpu = cpu_info(path)
    assert cpu.model == "AMD EPYC 9B14"
    assert cpu.flags == ("AVX2", "FMA", "F16C", "AVX-512F", "AVX-512BW", "AVX-512 VNNI") and cpu.has_vnni
    path.write_text(CPUINFO.replace(" avx512_vnni", ""))
    assert not cpu_info(path).has_vnni
    # No /proc/cpuinfo (macOS, Windows): a model name from the platform, no flags, no error.
    assert cpu_info(tmp_path / "missing").flags == ()


class CountingGenerator(ScriptedGenerator):
    """Reports llama.cpp-style counters: 400 prompt tokens in 2 s, 40 tokens generated in 4 s."""

    def generate(self, messages, params):
        super().generate(messages, params)
        return Generation(text="x", prompt_tokens=400, completion_tokens=40, seconds=6.0,
                          prompt_eval_tokens=400, prompt_eval_seconds=2.0, eval_tokens=40, eval_seconds=4.0)


def test_speed_is_measured_from_the_backend_counters_and_kept_per_cpu_and_model(tmp_path):
    cpu = CpuInfo("Test CPU", 2, ("AVX2",))
    generator = CountingGenerator(lambda m: "x")
    speed = measure_speed(generator, cpu)
    assert (speed.prompt_tokens_per_s, speed.generated_tokens_per_s) == (200.0, 10.0)
    # A warm-up call first, then a timed one whose prompt differs from it (no cached prefix reused).
    assert len(generator.prompts) == 2 and generator.prompts[0][0] != generator.prompts[1][0]
    assert saved_speed(tmp_path, speed.model, cpu) is None
    save_speed(tmp_path, speed)
    assert saved_speed(tmp_path, speed.model, cpu) == speed
    assert saved_speed(tmp_path, speed.model, CpuInfo("Other CPU", 2, ())) is None
    (tmp_path / "speed.json").write_text("not json")
    assert saved_speed(tmp_path, speed.model, cpu) is None


def test_rag_info_reports_machine_model_index_and_settings_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RAG_CONFIG", raising=False)
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    args = ["info", "--json", "--index", str(tmp_path / "idx"), "--gguf", str(model)]
    assert main(args) == EXIT_OK
    info = json.loads(capsys.readouterr().out)
    assert info["machine"]["cores"] >= 1 and isinstance(info["machine"]["flags"], list)
    assert info["generator"]["path"] == str(model) and info["speed"] is None
    assert info["index"]["snapshot"] is None and info["settings_file"] is None
    (tmp_path / "rag.toml").write_text("top_k = 5\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("The adoption panel met on Tuesday.\n")
    assert main(["index", str(tmp_path / "docs"), "--index", str(tmp_path / "idx"), "--quiet"]) == EXIT_OK
    capsys.readouterr()
    assert main(args) == EXIT_OK
    info = json.loads(capsys.readouterr().out)
    assert info["index"]["documents"] == 1 and info["index"]["chunks"] == 1 and info["index"]["bytes"] > 0
    assert info["settings_file"] == str(tmp_path / "rag.toml")
    assert main(["info", "--index", str(tmp_path / "idx"), "--gguf", str(model)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "not measured on this machine yet: rag info --speed" in out and "1 documents" in out
