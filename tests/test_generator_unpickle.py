"""The restricted unpickler: allowed globals load, everything else is refused before it can run."""

from __future__ import annotations

import argparse
import io
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch

from _checkpoint_fixtures import (
    ShellPayload,
    StorageBytesPayload,
    _fake_nvlabs_modules,
    _PersistentModule,
    reference_state_dict,
    tiny_config,
    write_nvlabs_pytorch_pkl,
    write_nvlabs_tf_pkl,
    write_rosinality_pt,
)
from musicvideo.errors import CheckpointError, UnsafePickleError
from musicvideo.generator.formats import load_checkpoint
from musicvideo.generator.unpickle import (
    EasyDictStub,
    PersistentObjectStub,
    TFNetworkStub,
    restricted_load,
    restricted_pickle_module,
    restricted_torch_load,
)


@pytest.fixture()
def marker(tmp_path):
    path = tmp_path / "payload_ran"
    yield path
    assert not path.exists(), "the malicious payload ran"


@pytest.fixture(scope="module")
def weights():
    config = tiny_config()
    return config, reference_state_dict(config, seed=2)


def _refused(path, *names: str) -> str:
    with pytest.raises(UnsafePickleError) as info:
        load_checkpoint(path)
    msg = str(info.value)
    assert isinstance(info.value, CheckpointError)  # the CLI prints it as a user error
    assert "\n" not in msg and str(path) in msg and "refusing to load" in msg
    assert any(n in msg for n in names), msg
    return msg


def test_payload_really_runs_without_the_restriction(tmp_path):
    """Sanity check of the test payload itself: plain pickle.loads runs it."""
    target = tmp_path / "proof"
    pickle.loads(pickle.dumps(ShellPayload(target)))
    assert target.exists()


def test_top_level_shell_payload_is_refused(tmp_path, marker):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(ShellPayload(marker)))
    msg = _refused(path, "posix.system", "os.system", "nt.system")
    assert "never runs code" in msg


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_refused_under_every_protocol(tmp_path, marker, protocol):
    blob = pickle.dumps({"G_ema": [1, {"x": ShellPayload(marker)}]}, protocol=protocol)
    with pytest.raises(UnsafePickleError, match="system"):
        restricted_load(io.BytesIO(blob), source="evil.pkl")
    if protocol >= 2:  # checkpoints start with the PROTO opcode; older text pickles are not checkpoints at all
        path = tmp_path / "evil.pkl"
        path.write_bytes(blob)
        _refused(path, "system")


def test_payload_nested_inside_an_nvlabs_network(tmp_path, marker, weights):
    config, sd = weights
    path = write_nvlabs_pytorch_pkl(tmp_path / "net.pkl", config, sd,
                                    extra={"training_set_kwargs": {"path": ShellPayload(marker)}})
    _refused(path, "system")


def test_payload_inside_a_module_state(tmp_path, marker):
    bad = _PersistentModule("Generator", {"_modules": OrderedDict(), "hook": ShellPayload(marker)})
    path = tmp_path / "net.pkl"
    with _fake_nvlabs_modules():
        path.write_bytes(pickle.dumps({"G": None, "G_ema": bad}))
    _refused(path, "system")


def test_payload_hidden_in_storage_bytes(tmp_path, marker):
    """torch.storage._load_from_bytes carries a whole torch.save stream: it goes through the same allow-list."""
    path = tmp_path / "net.pkl"
    path.write_bytes(pickle.dumps({"G_ema": StorageBytesPayload(marker)}, protocol=3))
    _refused(path, "system")


@pytest.mark.parametrize("zip_format", [True, False])
def test_payload_inside_a_torch_file(tmp_path, marker, weights, zip_format):
    config, sd = weights
    path = write_rosinality_pt(tmp_path / "r.pt", config, sd, zip_format=zip_format,
                               extra={"args": argparse.Namespace(size=16, evil=ShellPayload(marker))})
    _refused(path, "system")


def test_payload_inside_a_tf_pickle(tmp_path, marker, weights):
    config, sd = weights
    path = write_nvlabs_tf_pkl(tmp_path / "tf.pkl", config, sd, extra_kwargs={"truncation_psi": ShellPayload(marker)})
    _refused(path, "system")


class _Call:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


@pytest.mark.parametrize("func, name", [
    (eval, "builtins.eval"),
    (exec, "builtins.exec"),
    (getattr, "builtins.getattr"),
    (__import__, "builtins.__import__"),
    (np.load, "numpy.load"),
    (torch.load, "torch.serialization.load"),
    (pickle.loads, "_pickle.loads"),
])
def test_dangerous_globals_are_named_and_refused(tmp_path, func, name):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(_Call(func, "1+1")))
    _refused(path, name)


def test_python2_style_names_are_mapped_then_checked(tmp_path):
    # protocol 0 writes builtins as __builtin__; the mapping must not open a side door.
    with pytest.raises(UnsafePickleError, match="builtins.eval"):
        restricted_load(io.BytesIO(b"c__builtin__\neval\n(S'1+1'\ntR."), source="evil.pkl")
    assert restricted_load(io.BytesIO(b"c__builtin__\nset\n((lp0\nI1\natR."), source="x") == {1}


def test_allowed_content_round_trips():
    data = {
        "t": torch.arange(6.0).reshape(2, 3),
        "p": torch.nn.Parameter(torch.ones(2), requires_grad=False),
        "h": torch.zeros(3, dtype=torch.float16),
        "od": OrderedDict(a=1),
        "s": {1, 2},
        "fs": frozenset({3}),
        "np": np.arange(4, dtype=np.float32),
        "npf": np.float64(2.5),
        "ns": argparse.Namespace(size=256),
        "b": b"bytes",
    }
    for protocol in (2, 3, 4, 5):
        out = restricted_load(io.BytesIO(pickle.dumps(data, protocol=protocol)), source="ok.pkl")
        assert torch.equal(out["t"], data["t"]) and torch.equal(out["p"], data["p"])
        assert out["h"].dtype == torch.float16
        assert out["od"] == data["od"] and out["s"] == {1, 2} and out["fs"] == frozenset({3})
        assert np.array_equal(out["np"], data["np"]) and out["npf"] == 2.5
        assert out["ns"].size == 256 and out["b"] == b"bytes"


def test_nvlabs_names_become_inert_stubs(weights):
    from _checkpoint_fixtures import EasyDict, Network, nvlabs_module_tree

    config, sd = weights
    with _fake_nvlabs_modules():
        blob = pickle.dumps({"G_ema": nvlabs_module_tree(config, sd), "kw": EasyDict(a=1),
                             "tf": Network({"version": 4, "name": "Gs", "variables": [("x", np.ones(2))]})})
    out = restricted_load(io.BytesIO(blob), source="x.pkl")
    G = out["G_ema"]
    assert isinstance(G, PersistentObjectStub) and G.class_name == "Generator" and G.version == 6
    assert "class Generator" in G.module_src  # kept as text only
    assert set(G.state_dict()) == set(sd)
    assert isinstance(out["kw"], EasyDictStub) and out["kw"].a == 1
    assert isinstance(out["tf"], TFNetworkStub) and out["tf"].variables[0][0] == "x"


def test_restricted_pickle_module_plugs_into_torch_load(tmp_path, marker):
    buf = io.BytesIO()
    torch.save({"w": torch.ones(2), "bad": ShellPayload(marker)}, buf)
    buf.seek(0)
    with pytest.raises(UnsafePickleError):
        torch.load(buf, pickle_module=restricted_pickle_module("buf.pt"), weights_only=False)
    buf = io.BytesIO()
    torch.save({"w": torch.ones(2)}, buf)
    buf.seek(0)
    assert torch.equal(restricted_torch_load(buf, source="ok.pt")["w"], torch.ones(2))


def test_build_cannot_patch_an_allowed_class():
    """BUILD on a class object (not an instance) would monkey-patch library code: refused, class untouched."""
    # PROTO 2, GLOBAL argparse.Namespace, state (None, {'__repr__': 1}), BUILD, STOP
    blob = b"\x80\x02cargparse\nNamespace\nN}X\x08\x00\x00\x00__repr__K\x01s\x86b."
    with pytest.raises(UnsafePickleError, match="tries to modify Namespace"):
        restricted_load(io.BytesIO(blob), source="patch.pkl")
    assert callable(argparse.Namespace.__repr__)
    # The same state on an instance is ordinary data.
    blob = b"\x80\x02cargparse\nNamespace\n)\x81}X\x04\x00\x00\x00sizeK\x10sb."
    assert restricted_load(io.BytesIO(blob), source="ok.pkl").size == 16


def test_cli_inspect_refuses_a_malicious_pickle(tmp_path, marker, capsys):
    """End to end: `musicvideo inspect evil.pkl` prints one line, exits 2, runs nothing, writes nothing."""
    from musicvideo.cli import main

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": ShellPayload(marker)}))
    before = sorted(tmp_path.iterdir())
    assert main(["inspect", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "refusing to load" in err and "system" in err and "Traceback" not in err
    assert sorted(tmp_path.iterdir()) == before


def test_progressive_gan_pickle_is_unsupported_not_unsafe(tmp_path):
    path = tmp_path / "karras2018iclr-celebahq-1024x1024.pkl"
    # protocol 2, as the 2018 code wrote it: GLOBAL tfutil.Network, EMPTY_TUPLE, NEWOBJ, ... (truncated is fine)
    path.write_bytes(b"\x80\x02ctfutil\nNetwork\nq\x00)\x81q\x01}q\x02b.")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert not isinstance(info.value, UnsafePickleError)
    assert "Progressive GAN" in str(info.value) and str(path) in str(info.value)
