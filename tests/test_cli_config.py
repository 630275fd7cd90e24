"""Settings resolution (flag > environment > config file) and the upload resume record."""
from __future__ import annotations

import json
import stat
import threading

import pytest

from nanoclient import config
from nanoclient._journal import UploadJournal, file_digest


def _write_config(path, **values):
    path.write_text("[nanoclient]\n" + "".join(f"{k} = {v}\n" for k, v in values.items()), encoding="utf-8")


def test_flag_beats_environment_beats_file(tmp_path):
    ini = tmp_path / "config.ini"
    _write_config(ini, api_key="file-key", base_url="http://file/api/v2", model_id="file-model")
    env = {"NANONETS_API_KEY": "env-key", "NANONETS_MODEL_ID": "env-model"}

    settings = config.resolve(model_id="flag-model", env=env, path=ini)
    assert (settings.api_key, settings.base_url, settings.model_id) == ("env-key", "http://file/api/v2", "flag-model")
    assert settings.sources == {"api_key": "env", "base_url": str(ini), "model_id": "flag"}
    assert settings.source_of("model_id") == "--model-id"
    assert settings.source_of("api_key") == "the NANONETS_API_KEY variable"
    assert settings.source_of("base_url") == f"the config file {ini}"


def test_empty_values_count_as_missing(tmp_path):
    ini = tmp_path / "config.ini"
    _write_config(ini, api_key="file-key", model_id="")
    settings = config.resolve(api_key="", env={"NANONETS_API_KEY": ""}, path=ini)
    assert settings.api_key == "file-key"
    assert settings.model_id is None and settings.base_url is None
    assert settings.source_of("model_id") == "nowhere"


def test_config_path_follows_environment_override(tmp_path):
    ini = tmp_path / "other.ini"
    _write_config(ini, api_key="k")
    env = {config.CONFIG_ENV: str(ini)}
    assert config.config_path(env) == ini
    assert config.resolve(env=env).api_key == "k"
    assert config.config_path({}).name == "config.ini"


def test_missing_file_and_missing_section_are_empty(tmp_path):
    assert config.load_file(tmp_path / "absent.ini") == {}
    other = tmp_path / "other.ini"
    other.write_text("[something]\napi_key = x\n")
    assert config.load_file(other) == {}


def test_broken_file_is_a_clear_error(tmp_path):
    ini = tmp_path / "config.ini"
    ini.write_text("api_key = no section header\n")
    with pytest.raises(config.ConfigFileError, match="cannot read config file"):
        config.resolve(env={}, path=ini)


def test_file_not_read_when_everything_is_given(tmp_path):
    ini = tmp_path / "config.ini"
    ini.write_text("garbage without a section\n")
    settings = config.resolve("k", "http://x/api/v2", "m", env={}, path=ini)
    assert settings.model_id == "m"


def test_save_file_updates_keeps_and_removes(tmp_path):
    ini = tmp_path / "sub" / "config.ini"
    config.save_file(ini, {"api_key": "secret", "model_id": "m1"})
    config.save_file(ini, {"model_id": "m2", "base_url": "http://127.0.0.1:1/api/v2"})
    assert config.load_file(ini) == {"api_key": "secret", "model_id": "m2", "base_url": "http://127.0.0.1:1/api/v2"}
    config.save_file(ini, {"api_key": None})
    assert "api_key" not in config.load_file(ini)
    assert stat.S_IMODE(ini.stat().st_mode) == 0o600
    with pytest.raises(ValueError):
        config.save_file(ini, {"colour": "red"})


def test_record_is_keyed_by_server_and_model(tmp_path):
    a = UploadJournal.for_model("http://127.0.0.1:1/api/v2/", "m1", folder=tmp_path)
    same = UploadJournal.for_model("http://127.0.0.1:1/api/v2", "m1", folder=tmp_path)
    other_model = UploadJournal.for_model("http://127.0.0.1:1/api/v2", "m2", folder=tmp_path)
    other_server = UploadJournal.for_model("http://127.0.0.1:2/api/v2", "m1", folder=tmp_path)
    assert a.path == same.path
    assert len({a.path, other_model.path, other_server.path}) == 3
    assert a.path.parent == tmp_path / "uploads"


def test_record_survives_reopening_and_ignores_a_torn_line(tmp_path):
    record = UploadJournal.for_model("http://h/api/v2", "m", folder=tmp_path)
    record.add("aa", "Bag", "bag1.png")
    record.add("aa", "Coat", "coat.png")
    assert len(record) == 0 and ("aa", "Bag") not in record  # what it held when opened: memory stays flat
    lines = record.path.read_text().splitlines()
    assert json.loads(lines[0]) == {"base_url": "http://h/api/v2", "model_id": "m"}
    assert len(lines) == 3
    with open(record.path, "a") as handle:
        handle.write('{"sha256": "bb", "categ')  # interrupted mid-line

    again = UploadJournal.for_model("http://h/api/v2", "m", folder=tmp_path)
    assert len(again) == 2
    assert ("aa", "Bag") in again and ("aa", "Coat") in again and ("bb", "Bag") not in again
    again.add("aa", "Bag", "copy.png")  # held already: not written again
    again.add("cc", "Bag")
    reread = UploadJournal.for_model("http://h/api/v2", "m", folder=tmp_path)
    assert ("cc", "Bag") in reread and len(reread) == 3
    assert len(reread.path.read_text().splitlines()) == 5  # header, aa/Bag, aa/Coat, the torn line closed, cc/Bag


def test_record_add_from_many_threads(tmp_path):
    record = UploadJournal.for_model("http://h/api/v2", "m", folder=tmp_path)
    threads = [threading.Thread(target=lambda i=i: [record.add(f"{i}-{j}", "Bag") for j in range(50)])
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    reread = UploadJournal.for_model("http://h/api/v2", "m", folder=tmp_path)
    assert len(reread) == 400
    assert len(record.path.read_text().splitlines()) == 401


def test_record_defaults_to_the_cache_env_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("NANOCLIENT_CACHE_DIR", str(tmp_path / "cache"))
    record = UploadJournal.for_model("http://h/api/v2", "m")
    assert record.path.parent == tmp_path / "cache" / "uploads"


def test_file_digest_is_sha256(tmp_path):
    import hashlib

    path = tmp_path / "x.bin"
    data = bytes(range(256)) * 1000
    path.write_bytes(data)
    assert file_digest(path) == hashlib.sha256(data).hexdigest()
