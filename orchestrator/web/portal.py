"""The tenant portal's server side: the bundle (portal_bundle/ beside this module, built from portal/ by
`make portal` with esbuild, shipped in the wheel) plus
a config.json for one deployment (chain, addresses, ABIs, error sentences: assembled by the CLI),
written into a folder of static files that anyone can host, or served from here on uvicorn.

The page itself talks only to the user's wallet, the RPC named in config.json and hosts' tenant APIs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from starlette.applications import Starlette
from starlette.staticfiles import StaticFiles

from ..errors import ConfigError

BUNDLE = Path(__file__).resolve().parent / "portal_bundle"
BUNDLE_FILES = ("index.html", "portal.css", "portal.js", "favicon.ico")


def build_site(out: Path, config: dict, bundle: Path = BUNDLE) -> Path:
    """Copy the bundle into ``out`` and write its config.json beside it."""
    missing = [name for name in BUNDLE_FILES if not (bundle / name).is_file()]
    if missing:
        raise ConfigError(f"the portal bundle is not built ({', '.join(missing)} missing in {bundle}): run `make portal`")
    try:
        out.mkdir(parents=True, exist_ok=True)
        for item in bundle.iterdir():
            if item.is_file():
                shutil.copy2(item, out / item.name)
        (out / "config.json").write_text(json.dumps(config, indent=1))
    except OSError as exc:
        raise ConfigError(f"cannot write the portal into {out}: {exc.strerror}") from exc
    return out


def create_app(site: Path) -> Starlette:
    """The built site as static files (index.html at /)."""
    app = Starlette()
    app.mount("/", StaticFiles(directory=str(site), html=True), name="portal")
    return app
