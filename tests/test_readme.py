"""The README's Python example runs as written."""

import re
from pathlib import Path

import torch
from sklearn.datasets import load_digits


def test_readme_example_runs():
    text = (Path(__file__).parents[1] / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    x, y = load_digits(return_X_y=True)
    namespace = {
        "x_test": torch.tensor(x[:200], dtype=torch.float32).view(-1, 8, 8) / 16,
        "y_test": torch.tensor(y[:200]),
    }
    exec(compile(code, "README.md", "exec"), namespace)
    mean, std = namespace["result"].at(86400.0)
    assert 0.0 <= mean <= 1.0 and std >= 0.0
