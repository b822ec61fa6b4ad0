import pytest

from node.storage.watermarks import Watermarks

pytestmark = pytest.mark.unit


def test_save_and_load_roundtrip(tmp_path):
    w = Watermarks(tmp_path)
    assert w.save({"a": 5, "b": 9}) == 2
    assert Watermarks(tmp_path).load() == {"a": 5, "b": 9}


def test_save_writes_only_changed_origins(tmp_path):
    w = Watermarks(tmp_path)
    w.save({"a": 5, "b": 9})
    assert w.save({"a": 6, "b": 9}) == 1


def test_no_temp_files_left_behind(tmp_path):
    w = Watermarks(tmp_path)
    w.save({"a": 1})
    assert sorted(p.name for p in w.dir.iterdir()) == ["a.wm"]


def test_missing_directory_loads_empty(tmp_path):
    assert Watermarks(tmp_path / "fresh").load() == {}


@pytest.mark.parametrize(
    "content",
    [
        "",
        "garbage\n",
        "remesh-watermark v1 a 12 00000000\n",
        "remesh-watermark v1 b 12 deadbeef\n",
        "\xff\xfe",
        "remesh-watermark v1 a -3 1234\n",
    ],
)
def test_corrupt_file_is_a_warning_not_a_crash(tmp_path, caplog, content):
    w = Watermarks(tmp_path)
    w.save({"a": 12, "b": 3})
    (w.dir / "a.wm").write_text(content)
    with caplog.at_level("WARNING"):
        loaded = Watermarks(tmp_path).load()
    assert loaded == {"b": 3}
    assert "a.wm is corrupt" in caplog.text


def test_truncated_crc_is_detected(tmp_path):
    w = Watermarks(tmp_path)
    w.save({"a": 12})
    text = (w.dir / "a.wm").read_text()
    (w.dir / "a.wm").write_text(text.replace(" 12 ", " 13 "))
    assert Watermarks(tmp_path).load() == {}
