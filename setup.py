"""The wheel ships what an installed host can't build: the tenant portal's bundle (esbuild, under node) and
the built contracts (orchestrator/chain/contracts.json, committed; tests/test_artifacts.py keeps it in step
with the sources). Everything else is in pyproject.toml.

Building from a checkout rebuilds the portal bundle first (`node portal/build.mjs`), so a wheel never
carries a stale one; from an sdist (no portal sources) the bundle it carries is used.
"""

import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUNDLE = ROOT / "orchestrator" / "web" / "portal_bundle"
SHIPPED = ("orchestrator/chain/contracts.json", "orchestrator/web/portal_bundle/portal.js",
           "orchestrator/web/portal_bundle/index.html", "orchestrator/web/portal_bundle/portal.css")


class BuildWithBundles(build_py):
    def run(self):
        builder = ROOT / "portal" / "build.mjs"
        if builder.is_file():
            node = shutil.which("node")
            if node is None:
                raise SystemExit("building the wheel needs node for the portal bundle (run `make setup` first)")
            subprocess.run([node, str(builder)], check=True, cwd=ROOT)
        missing = [path for path in SHIPPED if not (ROOT / path).is_file()]
        if missing:
            raise SystemExit(f"cannot build the wheel without {', '.join(missing)} (run `make setup`)")
        super().run()


setup(cmdclass={"build_py": BuildWithBundles})
