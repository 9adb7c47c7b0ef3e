"""Summarise test results over seeds: ``python parse_test_res.py DIR ...`` as in CoOp.

The tool lives in :mod:`hgclip.cli.parse_test_res` (also installed as ``hgclip-parse-test-res``).
"""
import runpy

if __name__ == "__main__":
    runpy.run_module("hgclip.cli.parse_test_res", run_name="__main__", alter_sys=True)
