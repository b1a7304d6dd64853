"""Reliability of the CLI (issue 15): one guard at every entry point (exit codes 2, 3, 70, 130),
the map forms of conf/ and the README on the command line, run folders that honour the umask, and
quiet output (library notices only with --verbose). Commands run as real ``mmm-geo`` processes."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from mmm_geo.errors import (EXIT_BUG, EXIT_INTERRUPTED, EXIT_USER, ConfigError, MmmGeoError,
                            as_user_error)

MMM = str(Path(sys.executable).with_name("mmm-geo"))
CONF = Path(__file__).resolve().parents[1] / "conf"
NOISE = ("arviz_base not installed", "arviz_stats not installed", "arviz_plots not installed",
         "Unable to initialize backend", "ArviZ is undergoing a major refactor", "FutureWarning")


def mmm(*args, cwd, env=None, preexec=None, timeout=600):
    """Run ``mmm-geo`` with a fresh ArviZ cache (so its once-a-day warning would fire)."""
    full = {**os.environ, "XDG_CACHE_HOME": str(Path(cwd) / ".cache"), **(env or {})}
    full.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run([MMM, *args], cwd=cwd, capture_output=True, text=True, env=full,
                          preexec_fn=preexec, timeout=timeout)


def assert_user_error(res, *needles):
    assert res.returncode == EXIT_USER, res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    assert res.stderr.startswith("mmm-geo: error: ") and "fix:" in res.stderr
    for needle in needles:
        assert needle in res.stderr


# -- the classification ---------------------------------------------------------------------

def test_user_errors_pass_through_unchanged():
    err = ConfigError("bad key\n  fix: drop it")
    assert as_user_error(err) is err


@pytest.mark.parametrize("err, words", [
    (PermissionError(errno.EACCES, "Permission denied", "/data/sales.csv"),
     ["/data/sales.csv", "Permission denied", "ls -l"]),
    (OSError(errno.ENOSPC, "No space left on device", "/runs/a/trace.nc"),
     ["/runs/a/trace.nc", "No space left", "free space"]),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "plans/q1.csv"),
     ["plans/q1.csv", "check the path"]),
    (OSError(errno.EROFS, "Read-only file system", "/mnt/ro/run"), ["/mnt/ro/run", "read-only"]),
    (OSError("Unable to synchronously create file (unable to open file: name = '/r/trace.nc', "
             "errno = 28, error message = 'No space left on device')"), ["free space"]),
    (MemoryError(), ["out of memory", "inference.draws"]),
    (RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 9 GiB"),
     ["out of memory", "RESOURCE_EXHAUSTED"]),
])
def test_environment_failures_are_user_errors(err, words):
    user = as_user_error(err)
    assert isinstance(user, MmmGeoError) and user.exit_code == EXIT_USER
    text = str(user)
    assert "\n  fix: " in text
    for word in words:
        assert word in text


def test_ctrl_c_exits_130_and_bugs_are_not_user_errors():
    assert as_user_error(KeyboardInterrupt()).exit_code == EXIT_INTERRUPTED
    for bug in (ValueError("Encountered all NA values"), KeyError("kpi"), ZeroDivisionError(),
                TypeError("unsupported operand"), AttributeError("x"), IndexError("list")):
        assert as_user_error(bug) is None


# -- real processes -------------------------------------------------------------------------

def test_a_path_through_a_file_is_a_user_error(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    res = mmm("simulate", f"out={tmp_path / 'notes.txt' / 'sim'}", cwd=tmp_path)
    assert_user_error(res, str(tmp_path / "notes.txt" / "sim"), "Not a directory")


def test_a_write_beyond_the_file_size_limit_is_a_user_error(tmp_path):
    """A genuine failed write (EFBIG under ``ulimit -f``; Python ignores SIGXFSZ), as a full disk
    fails, stops with the file named and the fix."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    res = mmm("simulate", f"out={tmp_path / 'sim'}", cwd=tmp_path, preexec=limit)
    assert_user_error(res, "File too large", "ulimit -f")


def test_a_broken_run_folder_is_a_user_error(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text("{}")
    (run / "trace.nc").write_bytes(b"\x89HDF\r\n\x1a\n" + os.urandom(256))
    assert_user_error(mmm("optimize", f"run={run}", cwd=tmp_path), str(run))


def test_an_unreadable_netcdf_is_a_run_error(tmp_path):
    from mmm_geo.errors import RunError
    from mmm_geo.inference.trace import load_trace

    path = tmp_path / "trace.nc"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + os.urandom(256))
    with pytest.raises(RunError, match="cannot read the trace"):
        load_trace(path)


def test_a_bug_prints_its_traceback_a_request_to_report_it_and_exits_70(tmp_path):
    """No input of the tests is known to reach a bug, so one is planted in a module the report
    command calls, in a child Python that then runs the real ``main``."""
    code = ("import sys\nimport mmm_geo.report.build as b\n"
            "def boom(cfg):\n    return {}['missing']\n"
            "b.write_report = boom\nfrom mmm_geo import cli\n"
            f"sys.argv = ['mmm-geo', 'report', 'run={tmp_path}']\ncli.main()\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == EXIT_BUG, res.stderr
    assert "Traceback (most recent call last)" in res.stderr and "KeyError: 'missing'" in res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert "bug in mmm_geo" in last and "report it" in last and "issue tracker" in last


def test_bad_run_folder_paths_in_compare_and_init_are_user_errors(tmp_path):
    assert_user_error(mmm("compare", str(tmp_path / "nowhere"), cwd=tmp_path))
    assert_user_error(mmm("init", str(tmp_path / "missing.csv"), cwd=tmp_path))


def _default_sigint():
    """In the child: SIGINT delivered with its default action, as in a terminal. A child inherits
    an ignored SIGINT (a suite started in the background with ``&``) and a blocked one (a thread's
    signal mask), and a Python started so keeps it, so without this the signal would be dropped
    by the test harness, not tested."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@pytest.mark.slow
@pytest.mark.study      # run by scripts/run_studies.sh in a pytest without xdist workers: inside the
# 2-worker xdist suite the child was not interrupted (exit 0 after its last draw) in 3 of 4 runs of
# session 7 (and both failed in session 10), even with SIGINT reset to its default and unblocked in
# the child; the cause is not found. See scripts/RESULTS_studies.md
@pytest.mark.parametrize("method", ["parallel", "vectorized"])
def test_ctrl_c_during_sampling_exits_130_at_once_without_a_traceback(tmp_path, method):
    """Parallel chains sample in one compiled call, where Python's own SIGINT handler cannot run
    (before mmm_geo.interrupt: exit 130 only after the last draw, once exit 0)."""
    proc = subprocess.Popen([MMM, "fit", "experiment=tiny", f"output_dir={tmp_path / 'run'}",
                             "inference.progress_bar=true", f"inference.chain_method={method}",
                             "inference.warmup=1000", "inference.draws=1000"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)},
                            preexec_fn=_default_sigint)
    err = b""
    while b"/2000 [" not in err and proc.poll() is None:
        err += proc.stderr.read1(4096)  # tqdm's progress bar over warm-up and draws
    proc.send_signal(signal.SIGINT)
    out, rest = proc.communicate(timeout=300)
    text = (err + rest).decode(errors="replace")
    assert proc.returncode == EXIT_INTERRUPTED, text[-2000:]
    assert "Traceback" not in text + out.decode(errors="replace")
    assert text.count("mmm-geo: interrupted\n") == 1
    assert "2000/2000" not in text  # stopped while sampling, not after the last draw
    assert "NOT converged" not in text
    assert not (tmp_path / "run" / "metrics.json").exists()


# -- map forms on the command line (conf/optimize.yaml, README) -------------------------------

@pytest.mark.parametrize("command, override, key, expected", [
    ("optimize", "bounds={tv:[0.5,2]}", "bounds", {"tv": [0.5, 2]}),
    ("optimize", "bounds={tv:[0.5,2],search:[0.8,null]}", "bounds",
     {"tv": [0.5, 2], "search": [0.8, None]}),
    ("optimize", "bounds.tv=[0.5,2]", "bounds", {"tv": [0.5, 2]}),
    ("optimize", "bounds={tv:{min:0.5,max:null}}", "bounds", {"tv": {"min": 0.5, "max": None}}),
    ("optimize", "+bounds.search=[0.5,2]", "bounds", {"search": [0.5, 2]}),
    ("optimize", "geo_bounds={geo_00:[0.8,null]}", "geo_bounds", {"geo_00": [0.8, None]}),
    ("optimize", "+geo_bounds.geo_00=[0.8,null]", "geo_bounds", {"geo_00": [0.8, None]}),
    ("fit", "data.channels={tv:{spend:tv_spend},search:{spend:search_spend,exposure:clicks}}",
     "data.channels", {"tv": {"spend": "tv_spend", "exposure": None},
                       "search": {"spend": "search_spend", "exposure": "clicks"}}),
    ("fit", "++data.channels={tv:{spend:tv_spend}}", "data.channels",
     {"tv": {"spend": "tv_spend", "exposure": None}}),
    ("fit", "model.saturation.priors.slope={dist: lognormal, a: 0.2, b: 0.35}",
     "model.saturation.priors.slope", {"dist": "lognormal", "a": 0.2, "b": 0.35}),
    ("fit", "model.channels={tv:{adstock:delayed,priors:{roi:{dist:lognormal,a:0.5,b:0.3}}}}",
     "model.channels.tv", {"adstock": "delayed", "saturation": None,
                           "priors": {"roi": {"dist": "lognormal", "a": 0.5, "b": 0.3}}}),
])
def test_documented_map_forms_compose(command, override, key, expected):
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from mmm_geo.config import register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(command, overrides=[override])
    assert _contains(OmegaConf.to_container(OmegaConf.select(cfg, key)), expected)


def _contains(got, expected) -> bool:
    """``got`` equals ``expected`` where ``expected`` has keys (a schema may add defaults)."""
    if isinstance(expected, dict):
        return isinstance(got, dict) and all(k in got and _contains(got[k], v)
                                             for k, v in expected.items())
    return got == expected


def test_a_typo_next_to_a_map_is_still_caught(tmp_path):
    assert_user_error(mmm("optimize", "run=x", "bund={tv:[0.5,2]}", "--cfg", "job", cwd=tmp_path),
                      "bund")


def test_channel_map_on_the_fit_command_line(tmp_path):
    """The README's short form for column roles without a YAML file (a real ``mmm-geo``)."""
    res = mmm("fit", "data.path=sales.csv", "data.kpi=sales", "data.geo=region",
              "data.channels={tv:{spend:tv_spend},search:{spend:search_spend,exposure:search_clicks}}",
              "data.controls=[price]", "--cfg", "job", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "    tv:\n      spend: tv_spend\n      exposure: null\n" in res.stdout
    assert "    search:\n      spend: search_spend\n      exposure: search_clicks\n" in res.stdout
    bad = mmm("fit", "data.channels={tv:{spnd:tv_spend}}", "--cfg", "job", cwd=tmp_path)
    assert_user_error(bad, "spnd")


# -- shared files and quiet output on the README's main commands (tiny) ------------------------

def _modes(root: Path):
    return {p.relative_to(root): stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}


@pytest.mark.slow
@pytest.mark.parametrize("mask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)],
                         ids=["umask022", "umask077"])
def test_fit_optimize_report_honour_the_umask_and_print_no_library_notices(
        tmp_path, env, mask, file_mode, dir_mode):
    """The README's main commands on the tiny experiment: every file and folder of the run gets
    the umask's mode, and no library notice is printed (``--verbose`` shows them)."""
    run = tmp_path / "run"
    steps = [("fit", "experiment=tiny", f"output_dir={run}"),
             ("optimize", f"run={run}", "horizon_weeks=13"),
             ("report", f"run={run}")]
    env = {k: env[k] for k in ("JAX_COMPILATION_CACHE_DIR", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS")}
    for args in steps:
        res = mmm(*args, cwd=tmp_path, env=env, preexec=lambda: os.umask(mask))
        assert res.returncode == 0, res.stderr
        for line in NOISE:
            assert line not in res.stdout + res.stderr, (args[0], line)
    modes = _modes(run)
    assert len(modes) > 20 and (run / "optimize" / "allocation.csv").is_file()
    assert (run / "report" / "report.html").is_file() and (run / "trace.nc").is_file()
    wrong = {str(p): oct(m) for p, m in modes.items()
             if m != (dir_mode if (run / p).is_dir() else file_mode)}
    assert not wrong
    if mask == 0o022:  # the notices are the libraries', and --verbose shows them
        loud = mmm("optimize", "--verbose", f"run={run}", "horizon_weeks=13", cwd=tmp_path, env=env)
        assert loud.returncode == 0, loud.stderr
        assert "arviz_base not installed" in loud.stdout + loud.stderr
