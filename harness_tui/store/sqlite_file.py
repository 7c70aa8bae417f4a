"""Where a `sqlite:///` URL puts its database file, and whether its directory may be made."""

from __future__ import annotations

from pathlib import Path

from harness_tui import paths
from harness_tui.store.base import StoreConfigError

URL_PREFIX = "sqlite:///"


def sqlite_path(url: str) -> Path:
    """The database file named by a `sqlite:///` URL.

    Three slashes, then the path: `sqlite:////var/lib/h.db` is the absolute path
    /var/lib/h.db, `sqlite:///h.db` is h.db in the current directory, and
    `sqlite:///~/h.db` is in the home directory. A query string is ignored.
    """
    if not url.startswith(URL_PREFIX):
        raise StoreConfigError(f"store url {url!r}: expected sqlite:///PATH")
    raw = url[len(URL_PREFIX) :].split("?", 1)[0]
    if not raw:
        raise StoreConfigError(f"store url {url!r} names no database file")
    path = Path(raw).expanduser()
    return path if path.is_absolute() else Path.cwd() / path


def prepare_directory(path: Path) -> None:
    """Make sure the directory of the database file `path` exists, without inventing one.

    Only a project's own store, `<project>/.harness/harness.db`, has its directory made:
    `.harness/` belongs to the application and a fresh project has none. Any other missing
    directory is likelier a typo than a wish, and making it would leave folders outside
    any project, so it is refused as a configuration error.
    """
    directory = path.parent
    if directory.is_dir():
        return
    if directory.exists():
        raise StoreConfigError(
            f"cannot open SQLite database {path}: {directory} is not a directory"
        )
    project = directory.parent
    if path == paths.default_store_path(project) and project.is_dir():
        directory.mkdir(exist_ok=True)
        return
    raise StoreConfigError(
        f"cannot open SQLite database {path}: directory {directory} does not exist"
    )
