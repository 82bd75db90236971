"""Progress while a Spark job runs: finished tasks per active stage, printed when they change."""

from __future__ import annotations

import sys
import threading
from typing import TextIO


class SparkProgress:
    """A background thread polling Spark's status tracker; use as a context manager."""

    def __init__(self, spark, stream: TextIO = sys.stderr, every_s: float = 2.0):
        self.tracker = spark.sparkContext.statusTracker()
        self.stream, self.every_s = stream, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="assay-progress", daemon=True)
        self._last = ""

    def __enter__(self) -> SparkProgress:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            line = self.snapshot()
            if line and line != self._last:
                print(line, file=self.stream, flush=True)
                self._last = line

    def snapshot(self) -> str:
        parts = []
        for stage_id in sorted(self.tracker.getActiveStageIds()):
            info = self.tracker.getStageInfo(stage_id)
            if info is not None:
                parts.append(f"stage {stage_id}: {info.numCompletedTasks}/{info.numTasks} tasks")
        return "  progress: " + ", ".join(parts) if parts else ""
