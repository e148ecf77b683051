import json

from rag.cli import EXIT_ERROR, EXIT_OK, EXIT_SKIPPED, main


def test_index_reports_skips_with_exit_status(tmp_path, capsys):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.txt").write_text("The adoption panel met on Tuesday.\n")
    (docs / "bad.pdf").write_bytes(b"%PDF-1.4 broken")
    code = main(["index", str(docs), "--index", str(tmp_path / "idx"), "--json", "--quiet"])
    report = json.loads(capsys.readouterr().out)
    assert code == EXIT_SKIPPED
    assert report["added"] == ["good.txt"]
    assert report["skipped"][0]["path"].endswith("bad.pdf") and "PDF" in report["skipped"][0]["reason"]
    (docs / "bad.pdf").unlink()
    assert main(["index", str(docs), "--index", str(tmp_path / "idx"), "--quiet"]) == EXIT_OK
    assert "0 added" in capsys.readouterr().out


def test_search_json_and_docs(tmp_path, capsys, seeds_copy):
    idx = str(tmp_path / "idx")
    assert main(["index", str(seeds_copy), "--index", idx, "--quiet"]) == EXIT_OK
    capsys.readouterr()
    assert main(["search", "Haringey sacked", "--k", "2", "--json", "--index", idx]) == EXIT_OK
    data = json.loads(capsys.readouterr().out)
    assert len(data["passages"]) == 2 and data["passages"][0]["doc"] == "003_880be84fd3658657.txt"
    assert main(["docs", "--json", "--index", idx]) == EXIT_OK
    docs = json.loads(capsys.readouterr().out)
    assert len(docs) == 5 and all(d["chunks"] > 0 for d in docs)


def test_errors_are_one_clear_line(tmp_path, capsys):
    assert main(["search", "x", "--index", str(tmp_path / "idx"), "--config", str(tmp_path / "none.toml")]) \
        == EXIT_ERROR
    assert "config file not found" in capsys.readouterr().err
