"""The asv site's scripts and styles vendored in the repository: the pinned files with their licences, each
checked against SHA256SUMS when `harness nightly` copies it into a published site."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from harness.foundation.errors import HarnessError
from harness.workflows.nightly import assets

# the files as pinned when they were first taken from the npm registry (the old CDN-replacement pins)
PINNED = {
    "jquery@3.3.1/dist/jquery.min.js": "160a426ff2894252cd7cebbdd6d6b7da8fcd319c65b70468f10b6690c45d02ef",
    "flot@0.8.3/jquery.flot.js": "b7b931f273c38b1277b9c6c1f4e05c4ec09885a487bddaf3279e2d7e49a38e12",
    "flot@0.8.3/jquery.flot.time.js": "a582c832adc7138a6b05aaf61f16ebac274701f1be4afea77e739a1c34b9c41a",
    "flot@0.8.3/jquery.flot.selection.js": "e6c85f6c1ebe4b4da29d8ae238c7c5060283f05f7ef054f6b91817d02c092918",
    "flot@0.8.3/jquery.flot.categories.js": "6e81664b28ea795c734906f4aa15614640a75ac7fbd399a7fb9084040698351a",
    "flot-orderbars@1.0.0/js/jquery.flot.orderBars.js": "39735b4f46f96ff4e082572401f47c55a2767b366fd1d1e821e44a8d830a12bf",
    "stupid-table-plugin@1.1.3/stupidtable.min.js": "4642380f28ebe9ed7cac251793b281ef8620c4386205d92788f9b12f5cceb4e0",
    "blueimp-md5@2.19.0/js/md5.min.js": "64d7ded388c562e4bde9e58ce205e5fa01b9734fcd434d496eb7b4fbfe9b927d",
    "bootstrap@3.1.1/dist/js/bootstrap.min.js": "898d05a17f2cfc5120ddcdba47a885c378c0b466f30f0700e502757e24b403a1",
    "bootstrap@3.1.1/dist/css/bootstrap.min.css": "e9503448692b738dd260fbd7f7cabf2e11f09b600fa97e6eb3a56eba5b1a7e9b",
    "bootstrap@3.1.1/dist/fonts/glyphicons-halflings-regular.woff": "fc969dc1c6ff531abcf368089dcbaf5775133b0626ff56b52301a059fc0f9e1e",
    "bootstrap@3.1.1/dist/fonts/glyphicons-halflings-regular.ttf": "bd18efd3efd70fec8ad09611a20cdbf99440b2c1d40085c29be036f891d65358",
    "bootstrap@3.1.1/dist/fonts/glyphicons-halflings-regular.eot": "f495f34e4f177cf0115af995bbbfeb3fcabc88502876e76fc51a4ab439bc8431",
    "bootstrap@3.1.1/dist/fonts/glyphicons-halflings-regular.svg": "d168d50a88c730b4e6830dc0da2a2b51dae4658a77d9619943c27b8ecfc19d1a",
}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fake_assets(root: Path, files: dict[str, bytes], listed: dict[str, bytes] | None = None) -> None:
    """A site_assets directory holding `files`, with a SHA256SUMS of `listed` (default: the same files)."""
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    sums = "".join(f"{_sha(data)}  {rel}\n" for rel, data in sorted((listed or files).items()))
    (root / "SHA256SUMS").write_text(sums)


def test_vendor_rewrites_cdn_tags_to_checked_local_copies(tmp_path):
    js, css, font, licence = b"window.fake = 1;\n", b"body { src: url(../fonts/f.woff) }\n", b"wOFF", b"MIT\n"
    files = {"fakelib@1.0.0/dist/fake.js": js, "fakelib@1.0.0/dist/css/fake.css": css,
             "fakelib@1.0.0/dist/fonts/f.woff": font, "fakelib@1.0.0/LICENSE": licence, "unused@2.0.0/x.js": b"x"}
    root = tmp_path / "assets"
    _fake_assets(root, files)
    fake = (assets.Asset("https://cdn.example/fake.min.js", "fakelib@1.0.0", "dist/fake.js"),
            assets.Asset("https://cdn.example/fake.css", "fakelib@1.0.0", "dist/css/fake.css"))
    html = tmp_path / "html"
    html.mkdir()
    (html / "index.html").write_text(
        '<head>\n<script src="https://cdn.example/fake.min.js" integrity="sha256-x" crossorigin="anonymous" '
        'onerror="js_load_failure()"></script>\n<link rel="stylesheet" href="https://cdn.example/fake.css" '
        'integrity="sha256-y" crossorigin="anonymous">\n<script src="asv.js"></script>\n</head>\n')
    assert assets.local_site_check(html) == ["https://cdn.example/fake.min.js", "https://cdn.example/fake.css"]
    written = assets.vendor_site_assets(html, root=root, assets=fake)
    # the whole package directory travels: its licence and the fonts its stylesheet names; not unused packages
    assert written == ["vendor/fakelib@1.0.0/LICENSE", "vendor/fakelib@1.0.0/dist/css/fake.css",
                       "vendor/fakelib@1.0.0/dist/fake.js", "vendor/fakelib@1.0.0/dist/fonts/f.woff"]
    assert (html / "vendor/fakelib@1.0.0/dist/fake.js").read_bytes() == js
    assert not (html / "vendor/unused@2.0.0").exists()
    assert (html / "index.html").read_text() == (
        '<head>\n<script src="vendor/fakelib@1.0.0/dist/fake.js" onerror="js_load_failure()"></script>\n'
        '<link rel="stylesheet" href="vendor/fakelib@1.0.0/dist/css/fake.css">\n<script src="asv.js"></script>\n</head>\n')
    assert assets.local_site_check(html) == []

    (html / "index.html").write_text('<script src="https://cdn.example/fake.min.js"></script>')
    (root / "fakelib@1.0.0/dist/fake.js").write_bytes(b"evil()")  # not the file SHA256SUMS lists
    with pytest.raises(HarnessError, match=r"^vendored site asset fakelib@1.0.0/dist/fake.js has SHA-256 .* \(refusing it\)$"):
        assets.vendor_site_assets(html, root=root, assets=fake)
    _fake_assets(root, files, listed={k: v for k, v in files.items() if k != "fakelib@1.0.0/dist/fake.js"})
    with pytest.raises(HarnessError, match=r"^fakelib@1.0.0/dist/fake.js is not listed in SHA256SUMS"):
        assets.vendor_site_assets(html, root=root, assets=fake)
    assert assets.unlisted_files(root) == ["fakelib@1.0.0/dist/fake.js"]
    (html / "index.html").write_text('<script src="https://cdn.other/x.js"></script>')
    with pytest.raises(HarnessError, match=r"loads https://cdn.other/x.js, which has no vendored copy"):
        assets.vendor_site_assets(html, root=root, assets=fake)


def test_the_vendored_assets_are_the_pinned_files_with_their_licences():
    sums = assets.read_checksums()
    assert {rel: sums.get(rel) for rel in PINNED} == PINNED
    for rel in sums:  # every listed file is there and is the listed one
        assert _sha(assets.checked_bytes(rel, sums)) == sums[rel]
    assert assets.unlisted_files() == []
    packages = {a.package for a in assets.ASSETS}
    assert packages == {rel.split("/", 1)[0] for rel in sums}
    for package in packages:
        names = {Path(rel).name for rel in sums if rel.startswith(f"{package}/")}
        licences = {n for n in names if n.startswith("LICENSE")}
        if package == "flot-orderbars@1.0.0":  # ships no licence file; its package.json declares MIT
            assert json.loads((assets.SITE_ASSETS / package / "package.json").read_text())["license"] == "MIT"
        else:
            assert licences, package


def test_every_cdn_reference_of_the_installed_asv_has_a_vendored_copy():
    import asv

    index = Path(asv.__file__).parent / "www" / "index.html"
    urls = assets.local_site_check(index.parent)
    assert urls and set(urls) == {a.cdn_url for a in assets.ASSETS}
