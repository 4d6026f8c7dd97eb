"""Fixtures for the Instagram plugin tests (defined in :mod:`ig_support`, a uniquely named module).

This directory is put on ``sys.path`` so the helpers import under any pytest import mode.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from ig_support import channels, driver, media_host, sandbox

__all__ = ["channels", "driver", "media_host", "sandbox"]
