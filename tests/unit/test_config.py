import pytest

from node.config import ConfigError, NodeConfig, load_config, parse_peers

pytestmark = pytest.mark.unit


def write(tmp_path, text):
    p = tmp_path / "node.yaml"
    p.write_text(text)
    return p


def test_load_minimal_config_resolves_data_dir_next_to_the_file(tmp_path):
    cfg = load_config(write(tmp_path, "node_id: a\ndata_dir: data\n"))
    assert cfg.data_dir == tmp_path / "data" and cfg.durability == "buffered"


def test_overrides_win_over_the_file(tmp_path):
    cfg = load_config(
        write(tmp_path, "node_id: a\ndata_dir: d\nlisten: 127.0.0.1:1\n"),
        listen="127.0.0.1:2",
        node_id=None,
    )
    assert cfg.listen == "127.0.0.1:2" and cfg.node_id == "a"


def test_parse_peers():
    assert parse_peers("b=127.0.0.1:1, c=h:2,") == {"b": "127.0.0.1:1", "c": "h:2"}
    with pytest.raises(ConfigError, match="expected name=host:port"):
        parse_peers("b127.0.0.1:1")
    with pytest.raises(ConfigError, match="expected host:port"):
        parse_peers("b=nohost")


@pytest.mark.parametrize(
    "text,message",
    [
        ("node_id: a\n", "data_dir: required"),
        ("node_id: A B\ndata_dir: d\n", "node_id: expected a name"),
        ("node_id: a\ndata_dir: d\ndurability: maybe\n", "durability: expected buffered or sync"),
        (
            "node_id: a\ndata_dir: d\nheartbeat_ms: 500\nlink_timeout_ms: 100\n",
            "more than heartbeat",
        ),
        ("node_id: a\ndata_dir: d\npeers: {a: 'h:1'}\n", "is this node itself"),
        ("node_id: a\ndata_dir: d\nlsten: x\n", "unknown setting(s) lsten"),
        ("node_id: [\n", "not valid YAML"),
        ("- a\n", "expected a mapping"),
        ("node_id: a\ndata_dir: d\nmax_key_bytes: 0\n", "max_key_bytes: expected a positive"),
    ],
)
def test_bad_config_names_file_field_and_expectation(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert message in str(err.value) and str(tmp_path) in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")


def test_validate_dataclass_directly(tmp_path):
    with pytest.raises(ConfigError, match="listen"):
        NodeConfig(node_id="a", data_dir=tmp_path, listen="nope").validate()


@pytest.mark.parametrize("value", [-1, 101, "fast", True])
def test_linger_must_be_milliseconds_from_0_to_100(tmp_path, value):
    with pytest.raises(ConfigError, match="linger_ms"):
        NodeConfig(node_id="a", data_dir=tmp_path, linger_ms=value).validate()
