"""The browser chat's pieces without a browser: escaping, citation HTML, sources panel, auth, settings, CLI."""

from __future__ import annotations

import pytest

from rag.cli import EXIT_ERROR, build_parser, main
from rag.settings import SettingsError, load_settings
from rag.types import Answer, Chunk, Citation, Hit
from ui.render import answer_html, esc, highlighted_passage, sources_html

DOC_TEXT = "Intro line.\n\nAll 272 cases were <b>examined</b> **twice**. Nothing else."


def _hit(doc_id="a.txt", start=0, text=DOC_TEXT, title="Title <i>x</i>") -> Hit:
    return Hit(Chunk(7, doc_id, 0, start, start + len(text), text), title, 0.5, dense_score=0.7, bm25_score=3.2)


def _answer(text="It was 272 [1]. Also [9].", abstained=False) -> Answer:
    hit = _hit()
    quote = "All 272 cases were <b>examined</b> **twice**."
    start = DOC_TEXT.index(quote)
    citation = Citation(1, "a.txt", hit.title, start, start + len(quote), quote, 1, 0.9)
    return Answer(question="q", text=text, abstained=abstained, citations=() if abstained else (citation,),
                  passages=(hit, _hit("b.txt", title="Other")), abstain_reason="nothing relevant" if abstained
                  else None, timings={"retrieve_s": 0.01, "total_s": 1.5})


def test_esc_neutralises_html_markdown_and_latex():
    out = esc("<script>alert('x')</script> **b** [l](javascript:x) $$y$$ `c`\nnext")
    text = out.replace("<br>", "")
    for raw in ("<", ">", "*", "[", "(", ":", "$", "`", "'", "\n"):
        assert raw not in text
    assert out.endswith("&#96;c&#96;<br>next")


def test_answer_html_links_markers_to_highlighted_sources():
    html = answer_html(_answer(), turn=3, show_timings=True)
    assert '<a class="rag-cite" href="#rag-t3-c1" title="' in html
    assert 'id="rag-t3-c1"' in html and "<details" in html
    assert "<mark>All 272 cases were &lt;b&gt;examined&lt;/b&gt; &#42;&#42;twice&#42;&#42;.</mark>" in html
    assert "<b>examined</b>" not in html and "<i>x</i>" not in html
    assert "&#91;9&#93;" in html and "#rag-t3-c9" not in html  # a marker without a citation stays text
    assert "total 1.50 s" in html


def test_abstention_is_shown_as_such():
    html = answer_html(_answer("The documents don't say.", abstained=True), turn=0)
    assert 'class="rag-abstain"' in html and "nothing relevant" in html and "rag-cite" not in html
    panel = sources_html(_answer("The documents don't say.", abstained=True))
    assert "Abstained: nothing relevant" in panel and panel.count('class="rag-card"') == 2


def test_sources_panel_lists_scores_and_cited_passages():
    panel = sources_html(_answer())
    assert panel.count("rag-card-cited") == 1 and "cited &#91;1&#93;" in panel and "not cited" in panel
    assert "score 0.5000 · dense 0.700 · bm25 3.20" in panel
    assert "Sources of the latest answer" in sources_html(None)


def test_highlight_handles_offsets_and_overlaps():
    hit = _hit(start=100, text="abcdefghij")
    assert highlighted_passage(hit, [(102, 105)]) == "ab<mark>cde</mark>fghij"
    assert highlighted_passage(hit, [(102, 105), (104, 107), (90, 101)]) == \
        "<mark>a</mark>b<mark>cde</mark><mark>fg</mark>hij"


def test_parse_auth():
    from ui.app import parse_auth

    assert parse_auth("alice:pa:ss") == ("alice", "pa:ss")
    assert parse_auth(None) is None
    for bad in ("alice", ":pw", "alice:"):
        with pytest.raises(ValueError, match="USER:PASSWORD"):
            parse_auth(bad)


def test_pipeline_pool_shares_components(seed_pipeline):
    from ui.app import PipelinePool

    pool = PipelinePool(seed_pipeline)
    assert pool.get(seed_pipeline.settings.top_k, "llama_cpp", "") is seed_pipeline
    variant = pool.get(2, "llama_cpp", "")
    assert variant.settings.top_k == 2 and variant.embedder is seed_pipeline.embedder
    assert pool.get(2, "llama_cpp", "") is variant
    assert pool.settings_for(None, "openai", "qwen2.5").openai_model == "qwen2.5"
    assert str(pool.settings_for(None, "transformers", "/models/x").hf_model_dir) == "/models/x"
    with pytest.raises(SettingsError):
        pool.settings_for(None, "nope", "")


def test_serve_flags_and_settings(tmp_path, capsys):
    args = build_parser().parse_args(["serve", "--host", "0.0.0.0", "--port", "8123", "--auth", "a:b"])
    assert (args.ui_host, args.ui_port, args.auth) == ("0.0.0.0", 8123, "a:b")
    defaults = load_settings({}, None)
    assert (defaults.ui_host, defaults.ui_port, defaults.upload_max_mb) == ("127.0.0.1", 7860, 20.0)
    with pytest.raises(SettingsError, match="ui_port"):
        load_settings({"ui_port": 70000})
    assert main(["serve", "--auth", "no-colon", "--index", str(tmp_path / "idx")]) == EXIT_ERROR
    assert "USER:PASSWORD" in capsys.readouterr().err
