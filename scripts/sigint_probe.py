"""Send Ctrl-C (SIGINT) to `mmm-geo fit experiment=tiny` once its chains are sampling, and print
the exit code and how long it took to act on it.

    python scripts/sigint_probe.py <parallel|vectorized>

Session 6, before mmm_geo/interrupt.py: parallel exited 130 only after the last draw, 18.7 s
late (and once exit 0); vectorized, signalled before its first draw, exited 130 after 1.4 s.
Session 7, with mmm_geo/interrupt.py (signal at the first "/6000 [" progress line), unloaded:
see scripts/RESULTS.md, "Ctrl-C".
"""
import signal
import subprocess
import sys
import time
from pathlib import Path
method = sys.argv[1]
proc = subprocess.Popen([str(Path(sys.executable).with_name("mmm-geo")), "fit", "experiment=tiny", "output_dir=/tmp/sigrun_"+method,
    "inference.progress_bar=true", "inference.warmup=3000", "inference.draws=3000", f"inference.chain_method={method}"],
    cwd="/tmp", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
err = b""
while b"/6000 [" not in err and proc.poll() is None:
    err += proc.stderr.read1(4096)
t = time.time(); proc.send_signal(signal.SIGINT)
out, rest = proc.communicate(timeout=600)
print(method, "rc", proc.returncode, "after", round(time.time() - t, 1), "s;", (rest.decode(errors="replace")[-300:]).replace("\n", " | "))
