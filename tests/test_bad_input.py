"""Bad input: every kind of unusable file gets its own specific message, the rest of the run still indexes, and
`rag index` exits 3 when anything was skipped. Questions and batch files that cannot be used get clear errors.

All fixtures are generated here in temporary folders (the 50 MB file included); nothing big is committed.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from rag.chunker import SentenceChunker
from rag.cli import EXIT_ERROR, EXIT_OK, EXIT_SKIPPED, main
from rag.index import DocumentIndex, Indexer
from rag.loaders import LoadError, LoadLimits, load_document
from tests.conftest import ROOT
from tests.docfactory import write_docx, write_pdf

UNDECODABLE_NAME = b"caf\xe9 menu.txt"  # Latin-1 bytes in a file name: not valid UTF-8
UNDECODABLE_ID = "caf\ufffd menu.txt"

# Expected outcome per file: indexed (its doc id) or skipped (a fragment of the specific reason).
INDEXED = {
    "good one.txt": "The adoption panel in Leeds meets every second Tuesday.",
    "résumé ünïcode.md": "Der Pflegeausschuss tagt monatlich. The fostering board meets monthly.",
    "latin1.txt": "Café committee minutes.",
    "deep.html": "Deeply nested text survives.",
    "report.pdf": "Ofsted visited the children's home in May.",
    "minutes.docx": "The committee agreed the budget.",
    UNDECODABLE_ID: "The canteen menu changes weekly.",
}
SKIPPED = {
    "corrupt.pdf": "corrupt or unreadable PDF",
    "encrypted.pdf": "PDF is encrypted with a password",
    "empty.txt": "file is empty",
    "binary.txt": "looks like binary data (NUL bytes), not text",
    "not-a-zip.docx": "not a valid DOCX file (it is not a zip archive",
    "data.xyz": "unsupported file type '.xyz'",
    "pipe.txt": "is a named pipe (FIFO), not a regular file",
    "loop-a.txt": "symlink loop",
    "loop-b.txt": "symlink loop",
    "dangling.md": "broken symlink",
    "big.txt": "MB, over the 20 MB limit (setting max_file_mb)",  # "file is too large: 52.5 MB, ..."
}


def write_big_text(path: Path, size: int = 50 * 1024 * 1024) -> Path:
    """A real 50 MiB text file of varied sentences (about 80,000 chunks if it were indexed)."""
    rng = random.Random(0)
    words = ("council review child care services social workers adoption panel fostering report "
             "inspection budget committee staff progress Sheffield Haringey").split()
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(8, 25))).capitalize() + ".\n" for _ in range(500)]
    block = "".join(lines).encode()
    with open(path, "wb") as fh:
        written = 0
        while written < size:
            fh.write(block)
            written += len(block)
    return path


def write_encrypted_pdf(path: Path, lines: list[str], password: str) -> Path:
    from pypdf import PdfWriter

    plain = write_pdf(path.with_name(path.stem + "-plain.tmp"), lines)
    writer = PdfWriter(clone_from=str(plain))
    writer.encrypt(user_password=password, owner_password="owner", algorithm="RC4-128")
    writer.write(str(path))
    plain.unlink()
    return path


def make_bad_folder(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "good one.txt").write_text(INDEXED["good one.txt"] + "\n")
    (folder / "résumé ünïcode.md").write_text("# Ausschuss\n\n" + INDEXED["résumé ünïcode.md"] + "\n")
    (folder / "latin1.txt").write_bytes(INDEXED["latin1.txt"].encode("latin-1"))
    depth = 20_000
    (folder / "deep.html").write_text("<html><body>" + "<div>" * depth + INDEXED["deep.html"] + "</div>" * depth
                                      + "</body></html>")
    write_pdf(folder / "report.pdf", [INDEXED["report.pdf"]])
    write_docx(folder / "minutes.docx", [INDEXED["minutes.docx"]])
    with open(os.path.join(os.fsencode(folder), UNDECODABLE_NAME), "wb") as fh:
        fh.write(INDEXED[UNDECODABLE_ID].encode())

    (folder / "corrupt.pdf").write_bytes(write_pdf(folder / "tmp.pdf", ["Fine text."]).read_bytes()[:150])
    (folder / "tmp.pdf").unlink()
    write_encrypted_pdf(folder / "encrypted.pdf", ["Locked text."], password="secret")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "binary.txt").write_bytes(bytes(range(256)) * 64)
    (folder / "not-a-zip.docx").write_bytes(b"PK? no, just plain text pretending to be a DOCX\n")
    (folder / "data.xyz").write_text("an unsupported format\n")
    os.mkfifo(folder / "pipe.txt")  # reading a FIFO would block forever: it must be skipped unopened
    (folder / "loop-a.txt").symlink_to(folder / "loop-b.txt")
    (folder / "loop-b.txt").symlink_to(folder / "loop-a.txt")
    (folder / "dangling.md").symlink_to(folder / "missing.md")
    (folder / "self-loop-dir").symlink_to(folder)  # a folder symlink loop must not hang discovery
    write_big_text(folder / "big.txt")
    return folder


@pytest.fixture(scope="module")
def bad_folder(tmp_path_factory) -> Path:
    return make_bad_folder(tmp_path_factory.mktemp("bad") / "docs")


def _reasons(skipped) -> dict[str, str]:
    return {Path(s["path"] if isinstance(s, dict) else s.path).name: (s["reason"] if isinstance(s, dict) else s.reason)
            for s in skipped}


def _check_outcome(added: list[str], skipped: dict[str, str]) -> None:
    assert sorted(added) == sorted(INDEXED)
    for name, fragment in SKIPPED.items():
        assert name in skipped, f"{name} was not reported as skipped"
        assert fragment in skipped[name], f"{name}: {skipped[name]!r} lacks {fragment!r}"
    assert set(skipped) == set(SKIPPED)


def test_python_api_skips_each_bad_file_with_its_reason_and_indexes_the_rest(tmp_path, bad_folder, embedder):
    indexer = Indexer(tmp_path / "idx", embedder, SentenceChunker(), progress=False)
    report = indexer.index_paths([bad_folder])
    _check_outcome(report.added, _reasons(report.skipped))
    index = DocumentIndex.open(tmp_path / "idx")
    assert set(index.documents) == set(INDEXED)
    assert len(index.store) == len(index.chunks) == len(INDEXED)
    for doc_id, text in INDEXED.items():
        assert index.chunks and any(c.doc_id == doc_id and text in c.text for c in index.chunks.values())


def test_cli_index_summary_and_exit_status_3(tmp_path, bad_folder):
    """The real console script in a subprocess: text summary, every skip with its reason, exit status 3."""
    env = {**os.environ, "RAG_INDEX_DIR": str(tmp_path / "idx")}
    run = subprocess.run([sys.executable, "-m", "rag.cli", "index", str(bad_folder), "--quiet"], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == EXIT_SKIPPED, run.stderr
    out = run.stdout
    summary = " ".join(out.split())
    assert f"{len(INDEXED)} added" in summary and f"{len(SKIPPED)} skipped" in summary
    for name, fragment in SKIPPED.items():
        assert any(name in line and fragment in line for line in out.splitlines() if line.startswith("skipped")), \
            f"no 'skipped {name}: {fragment}' line in:\n{out}"
    assert "Traceback" not in run.stderr
    # JSON report of a second run: nothing new, the same skips, still exit 3.
    again = subprocess.run([sys.executable, "-m", "rag.cli", "index", str(bad_folder), "--quiet", "--json"], env=env,
                           cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == EXIT_SKIPPED
    report = json.loads(again.stdout)
    assert report["added"] == [] and sorted(report["unchanged"]) == sorted(INDEXED)
    _check_outcome(sorted(INDEXED), _reasons(report["skipped"]))


@contextlib.contextmanager
def _as_user(uid: int):
    """Run a block with this effective uid (root can switch back because its saved uid stays 0)."""
    os.seteuid(uid)
    try:
        yield
    finally:
        os.seteuid(0)


def test_unreadable_file_permission_denied_for_real():
    """chmod 000 is not enforced for root, so as root the read is done with the effective uid of 'nobody':
    a genuine EACCES from the kernel, not a simulation."""
    folder = Path(tempfile.mkdtemp(prefix="rag-perm-"))
    try:
        folder.chmod(0o755)
        locked = folder / "locked.txt"
        locked.write_text("Secret minutes.\n")
        locked.chmod(0o000)
        if os.geteuid() == 0:
            with _as_user(65534), pytest.raises(LoadError, match="permission denied"):
                load_document(locked)
        else:
            with pytest.raises(LoadError, match="permission denied"):
                load_document(locked)
    finally:
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()


def test_cli_unreadable_file_is_skipped_and_the_rest_indexed(tmp_path, capsys, monkeypatch):
    """Through `rag index` in-process. We run as root, where chmod 000 does not stop reads (the test above proves
    the message with a real EACCES as 'nobody'), so here the loader's open() is made to raise the same
    PermissionError the kernel gives for that one file."""
    import builtins

    import rag.loaders

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "open.txt").write_text("The fostering panel meets monthly.\n")
    locked = docs / "locked.txt"
    locked.write_text("Secret.\n")
    locked.chmod(0o000)
    real_open = builtins.open

    def guarded_open(file, *args, **kwargs):
        if os.geteuid() == 0 and Path(file) == locked:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(rag.loaders, "open", guarded_open, raising=False)
    code = main(["index", str(docs), "--index", str(tmp_path / "idx"), "--json", "--quiet"])
    report = json.loads(capsys.readouterr().out)
    assert code == EXIT_SKIPPED
    assert report["added"] == ["open.txt"]
    assert _reasons(report["skipped"]) == {"locked.txt": "permission denied (the file is not readable by this user)"}


def test_empty_folder_missing_path_and_unsupported_file(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    idx = str(tmp_path / "idx")
    assert main(["index", str(empty), "--index", idx, "--json", "--quiet"]) == EXIT_SKIPPED
    report = json.loads(capsys.readouterr().out)
    assert report["added"] == [] and _reasons(report["skipped"]) == {"empty": "folder holds no supported documents"}

    other = tmp_path / "notes.rtf"
    other.write_text("{\\rtf1 hello}")
    assert main(["index", str(tmp_path / "nope"), str(other), "--index", idx, "--json", "--quiet"]) == EXIT_SKIPPED
    reasons = _reasons(json.loads(capsys.readouterr().out)["skipped"])
    assert reasons == {"nope": "no such file or folder", "notes.rtf": "unsupported file type '.rtf'"}


def test_text_limit_catches_what_the_file_size_does_not(tmp_path, capsys, monkeypatch):
    """A small file that expands to a lot of text (here a DOCX, zip-compressed) meets max_file_mb but not
    max_text_chars; both limits are settings (RAG_MAX_TEXT_CHARS here)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    write_docx(docs / "expands.docx", ["The same sentence again and again. " * 50] * 200)
    (docs / "small.txt").write_text("A short note.\n")
    assert (docs / "expands.docx").stat().st_size < 50_000
    with pytest.raises(LoadError, match="document text is too large: 349,999 characters, over the 100,000 limit"):
        load_document(docs / "expands.docx", limits=LoadLimits(max_text_chars=100_000))
    monkeypatch.setenv("RAG_MAX_TEXT_CHARS", "100000")
    code = main(["index", str(docs), "--index", str(tmp_path / "idx"), "--json", "--quiet"])
    report = json.loads(capsys.readouterr().out)
    assert code == EXIT_SKIPPED and report["added"] == ["small.txt"]
    assert "setting max_text_chars" in _reasons(report["skipped"])["expands.docx"]


def test_pdf_parser_failures_never_escape_as_crashes(tmp_path):
    """300 damaged variants of a valid PDF (truncated, bytes flipped, ranges replaced): each one either loads or
    raises LoadError; nothing else escapes to stop an indexing run."""
    good = write_pdf(tmp_path / "good.pdf", ["Ofsted visited in May.", "Progress was slow."]).read_bytes()
    rng = random.Random(6)
    outcomes = {"loaded": 0, "skipped": 0}
    for i in range(300):
        data = bytearray(good)
        if i % 3 == 0:
            data = data[: rng.randrange(len(data))]
        elif i % 3 == 1:
            for _ in range(rng.randint(1, 12)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        else:
            at = rng.randrange(len(data))
            data[at : at + rng.randint(1, 40)] = bytes(rng.randrange(256) for _ in range(rng.randint(0, 40)))
        f = tmp_path / f"v{i}.pdf"
        f.write_bytes(bytes(data))
        try:
            load_document(f)
            outcomes["loaded"] += 1
        except LoadError as exc:
            assert exc.reason
            outcomes["skipped"] += 1
    assert outcomes["skipped"] > 50 and sum(outcomes.values()) == 300


# -- questions ------------------------------------------------------------------------------------------------


def test_empty_and_huge_questions_get_clear_errors(seed_pipeline, seed_settings, capsys):
    idx = str(seed_settings.index_dir)
    for command in ("search", "ask"):
        assert main([command, "   ", "--index", idx]) == EXIT_ERROR
        assert "the question is empty" in capsys.readouterr().err
    huge = "Who was sacked in Haringey? " * 3700  # ~100 KB
    assert len(huge) > 100_000
    for command in ("search", "ask"):
        assert main([command, huge, "--index", idx]) == EXIT_ERROR
        err = capsys.readouterr().err
        assert err.count("\n") == 1, "errors are one line, not wrapped"
        assert "the question is 103,599 characters, over the 4,000-character limit (setting max_question_chars)" \
            in err
    with pytest.raises(ValueError, match="the question is empty"):
        seed_pipeline.ask("")
    with pytest.raises(ValueError, match="max_question_chars"):
        seed_pipeline.ask(huge)
    assert seed_pipeline.search("Who was sacked in Haringey?")  # the pipeline still works afterwards


def test_question_in_other_languages_retrieval_does_not_crash(seed_pipeline):
    for question in ("Combien de dossiers le conseil de Sheffield a-t-il examinés après l'affaire Baby P ?",
                     "Wer wurde in Haringey entlassen?", "谢菲尔德议会审查了多少个案例？", "🙂🙂🙂"):
        hits = seed_pipeline.search(question)
        assert all(h.chunk.text for h in hits)


@pytest.mark.slow
def test_french_question_answered_or_abstained_with_real_model(qwen_pipeline):
    answer = qwen_pipeline.ask("Combien de dossiers le conseil de Sheffield a-t-il examinés après l'affaire Baby P ?")
    print("french question:", answer.abstained, answer.abstain_reason, repr(answer.text))  # docs/reliability.md
    if answer.abstained:
        assert answer.abstain_reason and not answer.citations
    else:
        assert answer.citations and all(c.doc_id in qwen_pipeline.index.documents for c in answer.citations)
        doc_text = qwen_pipeline.index.document_text(answer.citations[0].doc_id)
        assert answer.citations[0].quote in doc_text


def test_cli_batch_with_malformed_lines_exits_3_and_answers_the_rest(seed_pipeline, seed_settings, tmp_path,
                                                                     capsys):
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        '{"id": "ok1", "question": "Who was sacked in Haringey?"}\n'
        "{not json\n"
        '"just a string"\n'
        '{"id": "noq"}\n'
        '{"id": "empty", "question": "  "}\n'
        + json.dumps({"id": "huge", "question": "x" * 100_000}) + "\n"
        '{"id": "ok1", "question": "duplicate id"}\n'
        '{"id": "ok2", "question": "Combien de cas Sheffield a-t-il examinés ?"}\n'
        "\n")
    out = tmp_path / "out.jsonl"
    code = main(["batch", str(questions), "-o", str(out), "--retrieve-only", "--quiet", "--index",
                 str(seed_settings.index_dir)])
    assert code == EXIT_SKIPPED
    assert "6 errors" in capsys.readouterr().out
    rows = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert rows["ok1"]["passages"] and rows["ok2"]["passages"]
    assert rows["line2"]["error"].startswith("line 2 is not valid JSON")
    assert rows["line3"]["error"] == "line 3 is not a JSON object"
    assert rows["noq"]["error"] == "line 4 has no 'question' string"
    assert rows["empty"]["error"] == "the question is empty"
    assert "over the 4000 limit (setting max_question_chars)" in rows["huge"]["error"]
    assert len(rows["huge"]["question"]) == 200
    assert any("duplicate id 'ok1'" in r.get("error", "") for r in rows.values())

    binary = tmp_path / "q.txt"
    binary.write_bytes(b"\xff\xfe\x00binary")
    assert main(["batch", str(binary), "-o", str(out), "--quiet", "--index", str(seed_settings.index_dir)]) \
        == EXIT_ERROR
    assert "not UTF-8 text" in capsys.readouterr().err


def test_non_utf8_file_name_round_trips_through_cli_output(tmp_path, capsys):
    docs = tmp_path / "docs"
    docs.mkdir()
    with open(os.path.join(os.fsencode(docs), UNDECODABLE_NAME), "wb") as fh:
        fh.write(b"The canteen menu changes weekly.\n")
    idx = str(tmp_path / "idx")
    assert main(["index", str(docs), "--index", idx, "--quiet"]) == EXIT_OK
    capsys.readouterr()
    assert main(["docs", "--json", "--index", idx]) == EXIT_OK
    assert [d["doc"] for d in json.loads(capsys.readouterr().out)] == [UNDECODABLE_ID]
