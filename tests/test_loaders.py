import pytest

from rag.loaders import LoadError, SkippedFile, discover_files, load_document
from tests.conftest import SEEDS
from tests.docfactory import write_docx, write_pdf


def test_seed_text_is_normalised_and_titled():
    doc = load_document(SEEDS / "000_3e02e4570786b062.txt")
    assert doc.title == "Sheffield child care services to boost staffing"
    assert "Sheffield's social services" in doc.text  # curly apostrophe straightened
    assert "\u00a0" not in doc.text and "\u2019" not in doc.text
    assert doc.doc_id == "000_3e02e4570786b062.txt"
    bullets = load_document(SEEDS / "002_0a90d2f0ffb6067a.txt")
    assert "\u00b7" not in bullets.text and "- The inconsistency" in bullets.text
    assert "\n\n\n" not in bullets.text


def test_markdown_title_drops_heading_marks(tmp_path):
    f = tmp_path / "notes.md"
    f.write_text("# Fostering notes\n\nCarers met on **Monday**.\n")
    doc = load_document(f)
    assert doc.title == "Fostering notes"
    assert "Carers met on **Monday**." in doc.text


def test_html_title_body_and_no_script(tmp_path):
    f = tmp_path / "page.html"
    f.write_text("<html><head><title>Council &amp; care</title><style>p{}</style></head><body>"
                 "<h1>Heading</h1><p>First para.</p><script>alert('x')</script><p>Second&nbsp;para.</p></body></html>")
    doc = load_document(f)
    assert doc.title == "Council & care"
    assert "First para." in doc.text and "Second para." in doc.text
    assert "alert" not in doc.text and "p{}" not in doc.text


def test_pdf_text_and_metadata_title(tmp_path):
    f = write_pdf(tmp_path / "report.pdf", ["Ofsted visited in May.", "Progress was slow."], title="Visit report")
    doc = load_document(f)
    assert doc.title == "Visit report"
    assert "Ofsted visited in May." in doc.text and "Progress was slow." in doc.text


def test_docx_paragraphs_and_title(tmp_path):
    f = write_docx(tmp_path / "minutes.docx", ["Minutes of the meeting", "The committee agreed."])
    doc = load_document(f)
    assert doc.title == "Minutes of the meeting"
    assert doc.text == "Minutes of the meeting\nThe committee agreed."


def test_latin1_text_is_decoded(tmp_path):
    f = tmp_path / "latin.txt"
    f.write_bytes("Caf\xe9 r\xe9sum\xe9 for the committee.".encode("latin-1"))
    assert load_document(f).text == "Café résumé for the committee."


@pytest.mark.parametrize(
    ("name", "payload", "reason"),
    [
        ("empty.txt", b"", "file is empty"),
        ("binary.txt", b"\x00\x01\x02binary\x00", "binary"),
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "PDF"),
        ("broken.docx", b"not a zip file at all", "not a valid DOCX"),
        ("data.xyz", b"hello", "unsupported file type"),
        ("blank.txt", b"   \n\n  ", "no text found"),
    ],
)
def test_bad_files_raise_specific_errors(tmp_path, name, payload, reason):
    f = tmp_path / name
    f.write_bytes(payload)
    with pytest.raises(LoadError, match=reason):
        load_document(f)


def test_discover_gives_relative_ids_and_reports_unsupported(tmp_path):
    (tmp_path / "sub dir").mkdir()
    (tmp_path / "sub dir" / "ünï.txt").write_text("Nested text.")
    (tmp_path / "a.md").write_text("Top.")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / ".hidden.txt").write_text("skip me")
    (tmp_path / "loop").symlink_to(tmp_path)  # a symlink loop must not hang discovery
    found = list(discover_files([tmp_path]))
    ids = sorted(f[1] for f in found if not isinstance(f, SkippedFile))
    assert ids == ["a.md", "sub dir/ünï.txt"]
    skipped = [f for f in found if isinstance(f, SkippedFile)]
    assert any("image.png" in s.path and "unsupported" in s.reason for s in skipped)
