"""Entry point and router: `streamlit run dashboard/Home.py` from the repository root.

Pages live in dashboard/views/ and are registered with `st.navigation` (see
dashboard/nav.py for their URL paths)."""

import logging
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # so `import engine`, `import store`, `import dashboard` work
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quieten TensorFlow before anything imports it

import streamlit as st  # noqa: E402

from dashboard import nav  # noqa: E402

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
# The favicon stays an emoji: a Material icon favicon is fetched from fonts.gstatic.com,
# which an offline machine cannot reach (a console error on every page).
st.set_page_config(page_title="NST workbench", page_icon="🎨", layout="wide")
nav.navigation().run()
