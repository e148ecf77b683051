"""BEIR-format datasets (corpus.jsonl, queries.jsonl, qrels.tsv, optional answers.jsonl), e.g. Quoref."""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from rag.text import normalize_text
from rag.types import Document


@dataclass(frozen=True)
class BeirQuery:
    query_id: str
    text: str
    gold_docs: tuple[str, ...]
    answers: tuple[str, ...]


def _jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_corpus(folder: Path) -> list[Document]:
    docs = []
    for row in _jsonl(Path(folder) / "corpus.jsonl"):
        text = normalize_text(((row.get("title") or "") + "\n\n" + row["text"]).strip())
        docs.append(Document(doc_id=str(row["_id"]), title=row.get("title") or str(row["_id"]), text=text,
                             source_path=f"{folder}/corpus.jsonl#{row['_id']}",
                             content_hash=hashlib.sha256(text.encode()).hexdigest()))
    return docs


def load_queries(folder: Path) -> list[BeirQuery]:
    folder = Path(folder)
    qrels: dict[str, list[str]] = {}
    with open(folder / "qrels.tsv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            if int(row.get("score", 1)) > 0:
                qrels.setdefault(row["query-id"], []).append(row["corpus-id"])
    answers: dict[str, list[str]] = {}
    if (folder / "answers.jsonl").is_file():
        answers = {str(r["_id"]): list(r.get("answers") or []) for r in _jsonl(folder / "answers.jsonl")}
    return [
        BeirQuery(str(r["_id"]), r["text"], tuple(qrels.get(str(r["_id"]), ())), tuple(answers.get(str(r["_id"]), ())))
        for r in _jsonl(folder / "queries.jsonl")
    ]
