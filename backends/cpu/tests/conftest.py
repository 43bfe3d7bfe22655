import sys
from pathlib import Path

# the repository's shared test helpers (OpenVINO oracle, test models)
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))
