"""Streamlit dashboard of the style-transfer workbench (`streamlit run dashboard/Home.py`)."""
