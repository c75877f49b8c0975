"""Run every benchmark in turn; each writes its table to bench/results/<name>.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ["lid.py", "kb_recall.py", "latency.py", "train.py"]

if __name__ == "__main__":
    failed = [b for b in BENCHES if subprocess.run([sys.executable, str(HERE / b)]).returncode]
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    sys.exit(1 if failed else 0)
