from pathlib import Path

import pytest

from rag.settings import SettingsError, load_settings


def test_precedence_file_then_env_then_flags(tmp_path, monkeypatch):
    cfg = tmp_path / "rag.toml"
    cfg.write_text('top_k = 7\ncontext_k = 2\nindex_dir = "/tmp/from-file"\n')
    monkeypatch.setenv("RAG_CONFIG", str(cfg))
    monkeypatch.setenv("RAG_CONTEXT_K", "3")
    s = load_settings({"index_dir": "/tmp/from-flag"})
    assert s.top_k == 7  # file
    assert s.context_k == 3  # env beats file
    assert s.index_dir == Path("/tmp/from-flag")  # flag beats both


def test_bad_values_are_reported_specifically(tmp_path, monkeypatch):
    monkeypatch.setenv("RAG_TOP_K", "many")
    with pytest.raises(SettingsError, match="top_k"):
        load_settings()
    monkeypatch.delenv("RAG_TOP_K")
    with pytest.raises(SettingsError, match="generator must be"):
        load_settings({"generator": "gpt5"})
    with pytest.raises(SettingsError, match="multi_part_prompt must be one of terse, brief, list, strict"):
        load_settings({"multi_part_prompt": "chatty"})
    with pytest.raises(SettingsError, match="answer_checks: unknown check.*spelling; choose from type, year"):
        load_settings({"answer_checks": "type,spelling"})
    with pytest.raises(SettingsError, match="retry_sentences must be at least 1"):
        load_settings({"retry_sentences": 0})
    bad = tmp_path / "bad.toml"
    bad.write_text("nonsense = 1\n")
    with pytest.raises(SettingsError, match="unknown setting"):
        load_settings(config_path=bad)
    broken = tmp_path / "broken.toml"
    broken.write_text("top_k = \n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(config_path=broken)


def test_replace_validates_like_a_loaded_settings_object():
    import pytest

    from rag.settings import CHOICES, Settings, SettingsError

    s = Settings()
    assert s.replace(top_k=3, generator=None).top_k == 3  # None leaves a field as it is
    with pytest.raises(SettingsError, match="generator must be one of llama_cpp, openai, transformers"):
        s.replace(generator="gpt5")
    with pytest.raises(SettingsError, match="top_k and context_k must be at least 1"):
        s.replace(top_k=0)
    with pytest.raises(SettingsError, match="prompt_lookup_tokens must be 0"):
        s.replace(prompt_lookup_tokens=-1)
    with pytest.raises(SettingsError, match="unknown setting"):
        s.replace(topk=3)
    assert all(getattr(s, name) in allowed for name, allowed in CHOICES.items())
