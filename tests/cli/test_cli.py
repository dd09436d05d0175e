"""The `liveri` command as a user types it: exit codes and messages."""

import subprocess
import sys
import time

LIVERI = [sys.executable, "-m", "liveri.cli"]


def run(*args):
    return subprocess.run([*LIVERI, *args], capture_output=True, text=True, timeout=120)


def test_list_prints_digits_fast_without_tensorflow():
    start = time.perf_counter()
    r = run("list")
    assert r.returncode == 0 and "image.Digits" in r.stdout.split()
    assert time.perf_counter() - start < 5  # generous for CI; locally ~0.2 s
    r = subprocess.run([sys.executable, "-c", "import sys; from liveri.cli import main as cli; "
                        "cli.main(['params', '-e', 'image.Digits']); "
                        "print('tensorflow' in sys.modules)"],
                       capture_output=True, text=True, timeout=60)
    assert r.stdout.strip().splitlines()[-1] == "False"


def test_params_prints_every_key():
    r = run("params", "-e", "image.Digits")
    assert r.returncode == 0
    assert "train.max_steps : " in r.stdout and "release.latency_p99_ms : " in r.stdout


def test_set_overrides_a_value():
    r = run("params", "-e", "image.Digits", "--set", "train.max_steps=3")
    assert "train.max_steps : 3\n" in r.stdout


def test_misspelt_key_exits_2_and_suggests():
    r = run("params", "-e", "image.Digits", "--set", "train.max_stepz=3")
    assert r.returncode == 2 and "train.max_steps" in r.stderr and "max_stepz" in r.stderr


def test_wrong_type_exits_2_naming_key_and_type():
    r = run("params", "-e", "image.Digits", "--set", "train.max_steps=abc")
    assert r.returncode == 2 and "train.max_steps" in r.stderr and "int" in r.stderr


def test_unknown_experiment_exits_2_and_suggests():
    r = run("params", "-e", "image.Digitz")
    assert r.returncode == 2 and "image.Digits" in r.stderr


def test_set_without_equals_exits_2():
    r = run("params", "-e", "image.Digits", "--set", "train.max_steps")
    assert r.returncode == 2 and "KEY=VALUE" in r.stderr


def test_params_diff_against_itself_is_empty():
    r = run("params", "-e", "image.Digits", "--diff", "image.Digits")
    assert r.returncode == 0 and "no differences" in r.stdout


def test_serve_accepts_tf_serving_flags_it_does_not_implement(tmp_path):
    r = run("serve", "--model_repo", str(tmp_path / "missing"),
            "--tensorflow_session_parallelism=2")
    assert "unrecognized arguments" not in r.stderr
    assert "ignoring unsupported flag --tensorflow_session_parallelism" in r.stderr
    assert r.returncode == 2 and "missing" in r.stderr


def test_other_commands_refuse_unknown_flags():
    r = run("list", "--bogus")
    assert r.returncode == 2 and "--bogus" in r.stderr
