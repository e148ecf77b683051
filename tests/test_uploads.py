"""Uploads: file name sanitising, type/size limits, broken files leave the index unchanged, removal."""

from __future__ import annotations

import pytest

from rag.chunker import SentenceChunker
from rag.index import DocumentIndex, Indexer
from rag.uploads import UploadError, add_upload, remove_document, safe_filename, uploads_dir

MB = 1_000_000


@pytest.mark.parametrize(("raw", "safe"), [
    ("report.txt", "report.txt"),
    ("../../etc/passwd.txt", "passwd.txt"),
    ("..\\..\\windows\\evil.MD", "evil.md"),
    ("/abs/path/notes.html", "notes.html"),
    ("my report (final).docx", "my report (final).docx"),
    ("..", "upload"),
    ("....txt", "upload.txt"),
    ("a\x00b\u202e.txt", "ab.txt"),
    ("<script>alert(1)</script>.md", "script_.md"),
    ("Ünïcödé naïve.txt", "Ünïcödé naïve.txt"),
    (".hidden.txt", "hidden.txt"),
])
def test_safe_filename(raw, safe):
    assert safe_filename(raw) == safe
    assert "/" not in safe_filename(raw) and "\\" not in safe_filename(raw)


def test_safe_filename_keeps_long_names_bounded():
    name = safe_filename("x" * 500 + ".pdf")
    assert name.endswith(".pdf") and len(name) <= 130


@pytest.fixture()
def indexer(tmp_path, embedder, seeds_copy):
    idx = Indexer(tmp_path / "idx", embedder, SentenceChunker(120, 1), progress=False)
    idx.index_paths([seeds_copy / "000_3e02e4570786b062.txt"])
    return idx


def _snapshot(index_dir):
    index = DocumentIndex.open(index_dir)
    return index.snapshot, sorted(index.documents)


def test_upload_is_stored_and_indexed(tmp_path, indexer):
    src = tmp_path / "tmp-upload-xyz"
    src.write_text("Quarterly lantern report\n\nThe lantern festival drew 4,812 visitors to Wexbury.\n")
    result = add_upload(indexer, src, "../Lantern Report.md", max_bytes=MB)
    assert result.name == "Lantern Report.md" and result.doc_id == "uploads/Lantern Report.md"
    assert result.stored_path == uploads_dir(indexer.index_dir) / "Lantern Report.md"
    assert result.stored_path.read_bytes() == src.read_bytes()
    index = DocumentIndex.open(indexer.index_dir)
    assert index.documents[result.doc_id].chunk_count >= 1
    assert index.documents[result.doc_id].title == "Quarterly lantern report"
    # Re-uploading the same name updates the document instead of duplicating it.
    src.write_text("Quarterly lantern report\n\nThe lantern festival drew 5,000 visitors to Wexbury.\n")
    again = add_upload(indexer, src, "Lantern Report.md", max_bytes=MB)
    assert again.report.updated == [result.doc_id]
    assert sorted(DocumentIndex.open(indexer.index_dir).documents) == ["000_3e02e4570786b062.txt", result.doc_id]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("evil.exe", b"MZ\x90\x00", "unsupported file type '.exe'"),
    ("noext", b"hello", "unsupported file type '(no extension)'"),
    ("empty.txt", b"", "the file is empty"),
    ("broken.pdf", b"%PDF-1.4 broken", "PDF"),
    ("broken.docx", b"PK\x03\x04 not really a zip", "not a valid DOCX"),
    ("binary.txt", b"\x00\x01\x02" * 100, "binary"),
    ("big.txt", b"word " * 300_000, "over the 1 MB upload limit"),
])
def test_bad_upload_is_refused_and_index_unchanged(tmp_path, indexer, name, content, message):
    before = _snapshot(indexer.index_dir)
    src = tmp_path / "incoming"
    src.write_bytes(content)
    with pytest.raises(UploadError, match="^" + name.split("/")[-1]) as exc:
        add_upload(indexer, src, name, max_bytes=MB)
    assert message in str(exc.value)
    assert _snapshot(indexer.index_dir) == before
    folder = uploads_dir(indexer.index_dir)
    assert not folder.exists() or list(folder.iterdir()) == []


def test_remove_uploaded_document_deletes_stored_file(tmp_path, indexer):
    src = tmp_path / "incoming"
    src.write_text("Orchard minutes\n\nThe orchard committee planted 31 pear trees.\n")
    result = add_upload(indexer, src, "orchard.txt", max_bytes=MB)
    report = remove_document(indexer, result.doc_id)
    assert report.removed == [result.doc_id]
    assert not result.stored_path.exists()
    assert sorted(DocumentIndex.open(indexer.index_dir).documents) == ["000_3e02e4570786b062.txt"]
    with pytest.raises(KeyError):
        remove_document(indexer, "uploads/not-there.txt")
