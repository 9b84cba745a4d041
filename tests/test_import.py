"""What ``import featx`` loads, and the names it still provides (issue 5).

``import featx`` loads only the C core; submodules, functions, model families
and weights enums come on first use (PEP 562). Each check that depends on what
is not imported yet runs in a fresh interpreter. Speed is measured in
benchmarks/bench.py (``import`` section), not here.
"""
from __future__ import annotations

import importlib
import json
import os
import pickle
import subprocess
import sys
import textwrap

import pytest

import featx
from featx import models
from featx.models import _api, _weights

# The featx that this test session imports, also for the subprocess.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(featx.__file__)))


def run(code: str) -> dict:
    """Runs ``code`` in a fresh interpreter; returns the JSON it printed last."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (_ROOT, env.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env,
        capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


_LOADED = """
import json, sys
def loaded(*names):
    return {n: n in sys.modules for n in names}
def built():  # weights enums built so far
    w = sys.modules.get("featx.models._weights")
    return sorted(n for n, v in vars(w).items()
                  if isinstance(v, type) and issubclass(v, w.WeightsEnum)
                  and v is not w.WeightsEnum) if w else []
"""


def test_import_featx_loads_only_the_core():
    out = run(_LOADED + """
import featx
print(json.dumps(loaded(
    "featx._core", "featx._threads", "featx.nn", "featx.models",
    "featx.models._weights", "featx.models.resnet", "featx.fx",
    "featx.fx.tracer", "featx._functions", "featx._rng", "featx.ops",
    "featx.transforms", "featx.hub", "PIL", "tqdm")))
""")
    assert out.pop("featx._core") and out.pop("featx._threads")
    assert not any(out.values()), out


def test_import_models_loads_no_family_and_no_weights():
    out = run(_LOADED + """
import featx.models
print(json.dumps({
    "families": [f for f in featx.models._FAMILIES
                 if f"featx.models.{f}" in sys.modules],
    "parsed": featx.models._weights._facts.cache_info().currsize,
    "built": built(), **loaded("featx.nn", "featx.fx", "PIL", "tqdm")}))
""")
    assert out == {"families": [], "parsed": 0, "built": [],
                   "featx.nn": False, "featx.fx": False, "PIL": False,
                   "tqdm": False}


def test_first_use_imports_one_family_and_its_enums():
    out = run(_LOADED + """
import featx
builder = featx.models.resnet50
print(json.dumps({
    "families": [f for f in featx.models._FAMILIES
                 if f"featx.models.{f}" in sys.modules],
    "built": built(), "is_builder": builder is sys.modules[
        "featx.models.resnet"].resnet50, **loaded("featx.nn", "PIL")}))
""")
    resnet_enums = sorted(n for n in models._FAMILIES["resnet"]
                          if n.endswith("_Weights"))
    assert out == {"families": ["resnet"], "built": resnet_enums,
                   "is_builder": True, "featx.nn": True, "PIL": False}


def test_get_model_by_name_imports_its_family_only():
    out = run(_LOADED + """
import featx
m = featx.models.get_model("ResNet18", weights=None)
w = featx.models.get_model_weights("vgg16")
print(json.dumps({
    "model": type(m).__name__, "weights": repr(w.DEFAULT),
    "families": [f for f in featx.models._FAMILIES
                 if f"featx.models.{f}" in sys.modules],
    "weight": repr(featx.models.get_weight("ResNet50_Weights.DEFAULT"))}))
""")
    assert out == {"model": "ResNet", "weights": "VGG16_Weights.IMAGENET1K_V1",
                   "families": ["resnet"],
                   "weight": "ResNet50_Weights.IMAGENET1K_V2"}


def test_star_import_and_dir_give_every_public_name():
    out = run("""
import json, sys
import featx.models
names = dir(featx.models)
ns = {}
exec("from featx.models import *", ns)
top = {}
exec("from featx import *", top)
print(json.dumps({
    "dir": names, "star": sorted(k for k in ns if k != "__builtins__"),
    "top_dir": dir(featx),
    "top_star": sorted(k for k in top if k != "__builtins__"),
    "n_models": len(featx.models.list_models())}))
""")
    assert set(models.__all__) | set(models._FAMILIES) <= set(out["dir"])
    assert out["star"] == sorted(models.__all__)
    assert set(featx.__all__) | set(featx._SUBMODULES) <= set(out["top_dir"])
    # no import leftovers (os, warnings, ...) among the public names
    public = {n for n in out["top_dir"] if not n.startswith("_")}
    assert public == {n for n in featx.__all__ if not n.startswith("_")} | set(
        featx._SUBMODULES)
    assert out["top_star"] == sorted(featx.__all__)
    assert out["n_models"] == len(models.list_models())


def test_builders_named_like_their_module_stay_builders():
    # Unpickling a class imports featx.models.alexnet, and inception imports
    # featx.models.googlenet; both bind the module on the package.
    payload = pickle.dumps(
        (models.AlexNet, models.Inception3, models.ResNet50_Weights.DEFAULT))
    out = run(f"""
import json, pickle, types
import featx.models
alexnet_cls, inception_cls, w = pickle.loads({payload!r})
import featx.models.alexnet
print(json.dumps({{
    "alexnet": featx.models.alexnet.__module__,
    "googlenet": featx.models.googlenet.__module__,
    "googlenet_is_function": isinstance(featx.models.googlenet,
                                        types.FunctionType),
    "classes": [alexnet_cls.__name__, inception_cls.__name__],
    "weights": repr(w), "same": w is featx.models.ResNet50_Weights.DEFAULT}}))
""")
    assert out == {"alexnet": "featx.models.alexnet",
                   "googlenet": "featx.models.googlenet",
                   "googlenet_is_function": True,
                   "classes": ["AlexNet", "Inception3"],
                   "weights": "ResNet50_Weights.IMAGENET1K_V2", "same": True}


def test_registering_a_builtin_name_fails_before_its_family_is_imported():
    out = run("""
import json
import featx.models
try:
    featx.models.register_model("resnet50")(lambda **kw: None)
    error = None
except ValueError as exc:
    error = str(exc)
print(json.dumps({"error": error}))
""")
    assert "resnet50" in out["error"]


# ------------------------------------------------------------ the one table


def test_family_table_matches_the_family_modules():
    families = models._FAMILIES
    for family, names in families.items():
        module = importlib.import_module(f"featx.models.{family}")
        assert sorted(names) == sorted(module.__all__), family
        for name in names:
            assert getattr(models, name) is getattr(module, name), name
    # every name in one family only
    assert len(models._FAMILY_OF) == sum(map(len, families.values()))
    # every registered builder comes from a family of the table and is
    # exported by it, and every weights enum a family uses is exported
    for name, builder in _api.BUILTIN_MODELS.items():
        family = builder.__module__.rpartition(".")[2]
        assert builder.__module__ == f"featx.models.{family}", name
        assert name in families[family], name
        cls_name = _weights._facts()["models"][name]
        assert cls_name in families[family], cls_name
    # every family module on disk is in the table
    on_disk = {f[:-3] for f in os.listdir(os.path.dirname(models.__file__))
               if f.endswith(".py") and not f.startswith("_")}
    assert on_disk - set(families) == {"feature_extraction"}


def test_every_public_top_level_name_resolves():
    for name in featx.__all__:
        assert getattr(featx, name) is not None, name
    for name in featx._SUBMODULES:
        assert getattr(featx, name) is importlib.import_module(
            f"featx.{name}")
    with pytest.raises(AttributeError, match="no_such_name"):
        featx.no_such_name  # noqa: B018
    with pytest.raises(AttributeError, match="no_such_name"):
        models.no_such_name  # noqa: B018


@pytest.mark.parametrize("statement", ["import featx", "import featx.models",
                                       "from featx.nn import functional"])
def test_environment_warnings_point_at_the_users_import(tmp_path, statement):
    script = tmp_path / "user_script.py"
    script.write_text(textwrap.dedent(f"""
        import json, warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            {statement}  # line 5
        print(json.dumps([[str(w.message), w.category.__name__, w.filename, w.lineno]
                          for w in caught]))
        """))
    env = dict(os.environ, FEATX_ISA="SSE4", FEATX_NUM_THREADS="0")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert json.loads(proc.stdout) == [
        ["FEATX_ISA='sse4' is not one of ['avx2', 'avx512', 'scalar']; ignored",
         "RuntimeWarning", str(script), 5],
        [f"FEATX_NUM_THREADS='0' is not a number of threads in [1, 256]; using {cpus}",
         "RuntimeWarning", str(script), 5]]
