"""What the README, the guides and the package metadata promise: only install routes that
exist, and exact pixels only where the output formats keep them."""

from __future__ import annotations

import re
from pathlib import Path

from in2.imaging import EXACT_EXTENSIONS, OUTPUT_FORMATS, output_fit

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", REPO / "pyproject.toml", *sorted((REPO / "docs").glob("*.md"))]


def test_no_install_route_or_address_that_does_not_exist_yet():
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        assert "github.com/in2-inpaint" not in text, path  # no public repository yet
        assert not re.search(r"comfy node install in2-inpaint", text), path  # not in the Registry yet
        assert "search for **IN2**" not in text, path  # not in ComfyUI-Manager's list yet


def test_the_bit_exact_promise_names_exactly_the_lossless_formats():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    promise = readme[readme.index("every pixel outside the mask is returned"):][:400]
    for ext in EXACT_EXTENSIONS:
        assert OUTPUT_FORMATS[ext] in promise.upper() or ext.lstrip(".").upper() in promise.upper(), ext
        assert output_fit("RGB", f"x{ext}").note is None  # written without a change
    assert "JPEG" in promise and output_fit("RGB", "x.jpg").note  # and the lossy one is named, and warned about


def test_the_comfy_registry_icon_is_a_committed_square_png_of_at_most_400_px():
    import tomllib
    from PIL import Image

    comfy = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["comfy"]
    for field in ("PublisherId", "DisplayName", "Icon", "requires-comfyui"):
        assert comfy.get(field), field
    with Image.open(REPO / comfy["Icon"]) as icon:
        assert icon.format == "PNG" and icon.width == icon.height <= 400


def test_every_example_workflow_has_a_thumbnail_beside_it():
    from PIL import Image

    workflows = sorted((REPO / "example_workflows").glob("*.json"))
    assert workflows
    for workflow in workflows:
        with Image.open(workflow.with_suffix(".jpg")) as thumbnail:  # what ComfyUI's template browser shows
            assert thumbnail.format == "JPEG" and min(thumbnail.size) >= 128


def test_ci_installs_the_readmes_torch_and_runs_its_test_command():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    cpu = "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu || pip install torch==2.13.0"
    assert cpu in readme
    assert "python -m pip install -q torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \\\n" \
           "  || python -m pip install -q torch==2.13.0" in ci
    assert "bash .ci/run" in readme and 'python -m pytest -q --durations=25 -m "$1"' in ci


def test_the_readme_shows_before_it_tells():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 160
    first_image = readme.index("![")
    assert readme[first_image:].startswith("![") and "(docs/before_after.png)" in readme[first_image:][:200]
    assert first_image < readme.index("## Set-up: two commands") < readme.index("## What it is")
    assert (REPO / "docs" / "before_after.png").is_file()
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (REPO / link).exists(), link


def _anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives a page's headings."""
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
            for h in re.findall(r"^#+ (.+)$", markdown, flags=re.M)}


def test_every_link_between_the_docs_reaches_a_file_and_a_heading():
    for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
        for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]+))?\)", text):
            if target.startswith(("http://", "https://")):
                continue
            linked = (page.parent / target).resolve() if target else page
            assert linked.exists(), (page.name, target)
            if anchor and linked.suffix == ".md":
                assert anchor in _anchors(linked.read_text(encoding="utf-8")), (page.name, target, anchor)


def _quoted_forms(value) -> set[str]:
    """The ways a table or a sentence writes one measured value."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return set()
    forms = {str(value)} if isinstance(value, int) else set()
    forms |= {f"{value:.2f}", f"{value:.3f}", f"{value:.1f}"}
    if 0 <= value <= 1:
        forms.add(f"{100 * value:.0f}%")
    return forms


def test_the_readme_quotes_the_bundled_weights_quality_from_the_metrics_file():
    """Every number of the README's quality summary is one the evaluation wrote into
    in2/demo_weights/metrics.json (compare_fills.py --record), so the two cannot drift apart."""
    import json

    metrics = json.loads((REPO / "in2" / "demo_weights" / "metrics.json").read_text(encoding="utf-8"))
    known: set[str] = set()
    for entry in metrics.values():
        for row in entry["rows"]:
            for value in row.values():
                known |= _quoted_forms(value)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    quality = readme.split("- **Quality**", 1)[1].split("\n- **", 1)[0]
    quoted = re.findall(r"\d+\.\d+|\d+%", quality)
    assert quoted, "the README's quality summary quotes no measured number"
    assert [q for q in quoted if q not in known] == []
