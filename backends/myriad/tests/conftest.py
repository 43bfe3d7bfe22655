import sys
from pathlib import Path

# the repository's tests/ (helpers.py: OpenVINO's f32 oracle, save_ir, assert_close; models.py)
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))
