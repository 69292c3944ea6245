"""fit()'s progress display, fed by the library's progress calls (at most
65 an epoch): a tqdm bar where tqdm is installed, else one line on stderr
rewritten in place."""
import sys
from typing import Dict, Optional

try:
    from tqdm.auto import tqdm
except ImportError:
    tqdm = None


class EpochProgress:
    def __init__(self, label: str, rows: int):
        self.label = label
        self.done = 0
        self.width = 0  # of the line last written, which the next one covers
        self.bar = tqdm(total=rows, desc=label, unit="row", unit_scale=True, leave=True) \
            if tqdm is not None else None

    def update(self, rows_done: int, rows_total: int, mean_loss: float) -> None:
        if self.bar is not None:
            self.bar.update(rows_done - self.done)
            self.bar.set_postfix(loss=f"{mean_loss:.3f}", refresh=False)
        else:
            self._line(f"{100 * rows_done // rows_total:3d}%  loss {mean_loss:.3f}", end="")
        self.done = rows_done

    def close(self, metrics: Optional[Dict[str, float]] = None) -> None:
        summary = "  ".join(f"{k} {v:.3f}" for k, v in (metrics or {}).items() if k != "epoch")
        if self.bar is not None:
            if summary:
                self.bar.set_postfix_str(summary)
            self.bar.close()
        else:
            self._line(summary or "stopped", end="\n")

    def _line(self, text: str, end: str) -> None:
        line = f"{self.label}: {text}"
        sys.stderr.write("\r" + line.ljust(self.width) + end)
        sys.stderr.flush()
        self.width = len(line)
