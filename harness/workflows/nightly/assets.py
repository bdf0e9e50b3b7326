"""The published site's scripts and styles, from copies kept in this repository, so the charts render offline.

asv's index.html loads jQuery, Flot, Bootstrap and two small plugins from CDNs. The same library versions
are vendored under site_assets/ (one directory per npm package, name@version, with its licence), each file
listed with its SHA-256 in site_assets/SHA256SUMS (`sha256sum -c SHA256SUMS` checks them by hand;
site_assets/README.md says where they came from). vendor_site_assets() copies the packages a site uses
into its vendor/ directory, checking every file against SHA256SUMS, and points index.html at them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from harness.foundation.errors import HarnessError
from harness.foundation.fsutil import atomic_write_bytes, atomic_write_text

SITE_ASSETS = Path(__file__).resolve().with_name("site_assets")
CHECKSUMS_FILE = "SHA256SUMS"
UNLISTED = (CHECKSUMS_FILE, "README.md")  # files of site_assets/ that are about the assets, not assets


@dataclass(frozen=True)
class Asset:
    """One file asv's site loads from a CDN, and the vendored copy of the same library version."""

    cdn_url: str  # as written in asv's index.html
    package: str  # npm name@version: a directory of site_assets/
    path: str  # the file inside it

    @property
    def rel(self) -> str:
        return f"{self.package}/{self.path}"


ASSETS = (
    Asset("https://code.jquery.com/jquery-3.3.1.min.js", "jquery@3.3.1", "dist/jquery.min.js"),
    Asset("https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.min.js", "flot@0.8.3", "jquery.flot.js"),
    Asset("https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.time.min.js", "flot@0.8.3", "jquery.flot.time.js"),
    Asset("https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.selection.min.js", "flot@0.8.3",
          "jquery.flot.selection.js"),
    Asset("https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.categories.min.js", "flot@0.8.3",
          "jquery.flot.categories.js"),
    Asset("https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js", "flot-orderbars@1.0.0",
          "js/jquery.flot.orderBars.js"),
    # cdnjs serves stupidtable 1.0.1; npm has 1.1.3 of the same plugin, with the same $.fn.stupidtable API
    Asset("https://cdnjs.cloudflare.com/ajax/libs/stupidtable/1.0.1/stupidtable.min.js", "stupid-table-plugin@1.1.3",
          "stupidtable.min.js"),
    Asset("https://cdnjs.cloudflare.com/ajax/libs/blueimp-md5/2.19.0/js/md5.min.js", "blueimp-md5@2.19.0", "js/md5.min.js"),
    Asset("https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js", "bootstrap@3.1.1", "dist/js/bootstrap.min.js"),
    Asset("https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css", "bootstrap@3.1.1",
          "dist/css/bootstrap.min.css"),  # its ../fonts/ are in the same package directory
)

_TAG_RE = re.compile(r"<(script|link)\b[^>]*?\b(?:src|href)=\"(https://[^\"]+)\"[^>]*>", re.S)
_SUM_RE = re.compile(r"^([0-9a-f]{64}) [ *](\S+)$")


def read_checksums(root: Path = SITE_ASSETS) -> dict[str, str]:
    """{path under root: SHA-256} from root/SHA256SUMS (sha256sum's format)."""
    path = Path(root) / CHECKSUMS_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise HarnessError(f"the vendored site assets have no checksum list: {exc}") from None
    sums = {}
    for number, line in enumerate(lines, 1):
        m = _SUM_RE.match(line)
        if not m:
            raise HarnessError(f"{path}:{number}: expected '<sha256>  <path>', got {line[:80]!r}")
        sums[m.group(2)] = m.group(1)
    return sums


def checked_bytes(rel: str, sums: dict[str, str], root: Path = SITE_ASSETS) -> bytes:
    """The vendored file `rel`, after checking it against its listed SHA-256."""
    if rel not in sums:
        raise HarnessError(f"{rel} is not listed in {CHECKSUMS_FILE} of {root}")
    try:
        data = (Path(root) / rel).read_bytes()
    except OSError as exc:
        raise HarnessError(f"vendored site asset {rel} cannot be read: {exc}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != sums[rel]:
        raise HarnessError(f"vendored site asset {rel} has SHA-256 {digest[:16]}..., "
                           f"{CHECKSUMS_FILE} says {sums[rel][:16]}... (refusing it)")
    return data


def unlisted_files(root: Path = SITE_ASSETS) -> list[str]:
    """Files under root that SHA256SUMS does not list (a vendored file nobody checks)."""
    root = Path(root)
    sums = read_checksums(root)
    found = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    return [rel for rel in found if rel not in sums and rel not in UNLISTED]


def vendor_site_assets(html_dir: str | Path, root: Path = SITE_ASSETS, assets=None) -> list[str]:
    """Copy the packages the site's index.html loads into html_dir/vendor and point index.html at them.

    Every CDN reference in index.html must be one of `assets` (default ASSETS); a rewritten tag keeps
    no integrity attribute (the file was checked against SHA256SUMS instead). Returns the copied paths.
    """
    html_dir = Path(html_dir)
    index = html_dir / "index.html"
    if not index.is_file():
        raise HarnessError(f"{index} not found: publish the site first")
    by_url = {a.cdn_url: a for a in (ASSETS if assets is None else assets)}
    text = index.read_text(encoding="utf-8")
    urls = [url for _, url in _TAG_RE.findall(text)]
    unknown = [url for url in urls if url not in by_url]
    if unknown:
        raise HarnessError(f"index.html loads {unknown[0]}, which has no vendored copy (see harness/workflows/nightly/assets.py)")
    sums = read_checksums(root)
    packages = {by_url[url].package for url in urls}
    copied = sorted(rel for rel in sums if rel.split("/", 1)[0] in packages)  # licences and fonts travel too
    missing = [by_url[url].rel for url in urls if by_url[url].rel not in sums]
    if missing:
        raise HarnessError(f"{missing[0]} is not listed in {CHECKSUMS_FILE} of {root}")
    for rel in copied:
        atomic_write_bytes(html_dir / "vendor" / rel, checked_bytes(rel, sums, root))

    def local(match: re.Match) -> str:
        rel = f"vendor/{by_url[match.group(2)].rel}"
        if match.group(1) == "script":
            return f"<script src=\"{rel}\" onerror=\"js_load_failure()\">"
        return f"<link rel=\"stylesheet\" href=\"{rel}\">"

    atomic_write_text(index, _TAG_RE.sub(local, text))
    return [f"vendor/{rel}" for rel in copied]


def local_site_check(html_dir: str | Path) -> list[str]:
    """The remote (https) scripts and styles index.html still loads; empty when it renders offline."""
    text = (Path(html_dir) / "index.html").read_text(encoding="utf-8")
    return [url for _, url in _TAG_RE.findall(text)]
