"""The README, docs/ and the OpenAPI document keep up with the code, and with each other."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from rendergate.api.app import create_app
from rendergate.config.settings import Settings, load_settings
from rendergate.domain import errors
from rendergate.domain.task import TaskStatus
from rendergate.providers import registry
from support.server import RunningServer

ROOT = Path(__file__).parents[2]


def test_the_settings_table_lists_exactly_the_settings(tmp_path: Path) -> None:
    """docs/configuration.md lists rendergate's own settings and those each built-in adapter
    declares beside its code."""
    declared = set(Settings.model_fields)
    for entry in registry(load_settings(data_dir=tmp_path)).values():
        declared |= set(entry.settings.model_fields)
    page = (ROOT / "docs" / "configuration.md").read_text()
    listed = set(re.findall(r"^\| `RENDERGATE_(\w+)` \|", page, flags=re.MULTILINE))
    assert listed == {name.upper() for name in declared}


def test_the_architecture_maps_every_folder_and_module_of_the_package() -> None:
    """docs/architecture.md's folder map names exactly what src/rendergate holds at its top,
    every module it names inside a folder exists there, and the top holds packages and at
    most five modules."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    block = text.split("```\nsrc/rendergate/\n", 1)[1].split("```", 1)[0]
    entries = re.findall(r"^  ([a-z_]+/|[a-z_]+\.py) ", block, flags=re.MULTILINE)
    package = ROOT / "src" / "rendergate"
    top = {
        f"{p.name}/" if p.is_dir() else p.name
        for p in package.iterdir()
        if (p.is_dir() and p.name != "__pycache__") or (p.suffix == ".py" and p.stem != "__init__")
    }
    assert set(entries) == top, set(entries) ^ top
    assert len([name for name in top if name.endswith(".py")]) <= 5
    for folder, described in re.findall(
        r"^  ([a-z_]+)/ +(.*?)(?=^  [a-z_]+[/.])", block + "\n  x/", flags=re.MULTILINE | re.DOTALL
    ):
        for inside, module in re.findall(r"\b(?:([a-z_]+)/)?([a-z_]+\.py)\b", described):
            named = [p for p in package.rglob(module) if "__pycache__" not in p.parts]
            where = inside or folder  # "store/deliveries.py": another folder's, named so
            assert any(where in p.relative_to(package).parts for p in named), (folder, module)


def test_readme_shows_the_two_setup_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_public_docs_never_name_the_task_api_by_an_internal_file_number(tmp_path: Path) -> None:
    """A user cannot know what "seed 004" is: the README, docs/ and /docs say "the task API"."""
    schema = str(create_app(load_settings(data_dir=tmp_path)).openapi())
    texts = [schema, (ROOT / "README.md").read_text()]
    texts += [page.read_text() for page in (ROOT / "docs").glob("*.md")]
    assert [t for t in texts if re.search(r"seed \d{3}", t)] == []


def test_the_deploy_env_file_names_only_settings_that_exist(tmp_path: Path) -> None:
    """examples/deploy.env, which docs/deploy.md installs as /etc/rendergate/env."""
    declared = set(Settings.model_fields)
    for entry in registry(load_settings(data_dir=tmp_path)).values():
        declared |= set(entry.settings.model_fields)
    lines = (ROOT / "examples" / "deploy.env").read_text().splitlines()
    names = [line.split("=", 1)[0] for line in lines if line and not line.startswith("#")]
    ours = {n.removeprefix("RENDERGATE_").lower() for n in names if n.startswith("RENDERGATE_")}
    assert ours and ours <= declared, ours - declared
    assert all(re.fullmatch(r"[A-Z_]+=[^\s\"']*", line) for line in lines if line[:1].isalpha())


def test_every_route_has_an_example(tmp_path: Path) -> None:
    schema = create_app(load_settings(data_dir=tmp_path)).openapi()
    without = []
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            success = next(c for c in operation["responses"] if c.startswith("2"))
            content = operation["responses"][success].get("content", {})
            if "application/json" in content and "example" not in content["application/json"]:
                without.append(f"{method.upper()} {path}")
            if "requestBody" in operation:
                body = operation["requestBody"]["content"]
                without += [
                    f"{method.upper()} {path} body {t}"
                    for t, c in body.items()
                    if "example" not in c
                ]
    assert without == []
    assert set(schema["paths"]) >= {
        "/tasks",
        "/tasks/{task_id}",
        "/tasks/{task_id}/cancel",
        "/tasks/{task_id}/image",
        "/healthz",
        "/apps",
    }


def test_every_route_is_shaped_for_client_generators(tmp_path: Path) -> None:
    """What tests/integration/test_generated_client.py relies on, held for every route (new
    ones too): an operation id without FastAPI's path suffix, a model for each error."""
    schema = create_app(load_settings(data_dir=tmp_path)).openapi()
    untyped, ids = [], {}
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            ids[f"{method.upper()} {path}"] = operation["operationId"]
            for code, response in operation["responses"].items():
                body = response.get("content", {}).get("application/json", {})
                if code[0] in "45" and "$ref" not in body.get("schema", {}):
                    untyped.append(f"{method.upper()} {path} {code}")
    assert untyped == []
    assert len(set(ids.values())) == len(ids)
    assert all(not name.endswith(("_get", "_post")) for name in ids.values()), ids
    assert ids["POST /tasks"] == "create_task" and ids["GET /tasks/{task_id}"] == "get_task"
    components = schema["components"]["schemas"]
    status = components["TaskPublic"]["properties"]["status"]
    assert status["$ref"] == "#/components/schemas/TaskStatus"
    assert components["TaskStatus"]["enum"] == [s.value for s in TaskStatus]
    body = schema["paths"]["/tasks"]["post"]["requestBody"]["content"]
    assert {kind: c["schema"]["$ref"].rsplit("/", 1)[1] for kind, c in body.items()} == {
        "multipart/form-data": "TaskCreateForm",
        "application/json": "TaskCreateJson",
    }
    assert {"TaskCreateForm", "TaskCreateJson"} <= set(components)


async def test_docs_page_uses_only_local_assets(server: RunningServer) -> None:
    """/docs must work on a laptop with no internet: no CDN, only vendored assets."""
    async with server.http.get(f"{server.url}/docs") as response:
        assert response.status == 200
        page = await response.text()
    assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page)
    assert assets and all(a.startswith(("/static/", "data:")) for a in assets), assets
    for asset in (a for a in assets if a.startswith("/static/")):
        async with server.http.get(server.url + asset) as response:
            assert response.status == 200 and len(await response.read()) > 100_000


DOC_REFERENCE = re.compile(r"\bdocs/[\w./-]+\.md\b")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCED_CODE = re.compile(r"^ *```.*?^ *```", flags=re.MULTILINE | re.DOTALL)
HEADING = re.compile(r"^#{1,6} +(.+?) *$", flags=re.MULTILINE)
TEXT_SUFFIXES = {".py", ".md", ".sh", ".toml", ".txt", ".cfg", ".ini"}
README_MAX_LINES = 400


def _tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    files = [ROOT / name for name in listed]
    return [f for f in files if f.is_file() and (f.suffix in TEXT_SUFFIXES or f.name == "Makefile")]


def _prose(page: Path) -> str:
    """A Markdown page without its fenced code, where no line is a link or a heading."""
    return FENCED_CODE.sub("", page.read_text(encoding="utf-8"))


def _links(page: Path) -> list[tuple[Path, str]]:
    """The page's relative links: the file each names (the page itself for a bare `#anchor`)
    and the anchor, empty when there is none."""
    found = []
    for link in MARKDOWN_LINK.findall(_prose(page)):
        if "://" in link or link.startswith("mailto:"):
            continue
        target, _, anchor = link.partition("#")
        found.append(((page.parent / target).resolve() if target else page, anchor))
    return found


def _heading_anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    """The ids of the page's headings; a repeated one gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    for heading in HEADING.findall(_prose(page)):
        anchor = _heading_anchor(heading)
        seen[anchor] = seen.get(anchor, -1) + 1
        if seen[anchor]:
            seen[f"{anchor}-{seen[anchor]}"] = 0
    return set(seen)


def test_heading_anchors_are_githubs(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Push: webhooks and event streams\n\n## Aliyun 智作工坊 (SpeedPix), ComfyUI apps\n"
        "## 1. Implement the protocol\n### How `Client` runs\n## Errors\n## Errors\n\n"
        "```ini\n# /etc/systemd/system/rendergate-worker@.service\n```\n"
    )
    assert _anchors(page) == {
        "push-webhooks-and-event-streams",
        "aliyun-智作工坊-speedpix-comfyui-apps",
        "1-implement-the-protocol",
        "how-client-runs",
        "errors",
        "errors-1",
    }


def test_every_document_the_repository_cites_exists() -> None:
    """A `docs/….md` named anywhere, and every relative link in a Markdown file, resolves:
    to a file that exists and, for a `#anchor` into a Markdown page, to one of its headings."""
    dangling = []
    for path in _tracked_text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        dangling += [
            f"{path.relative_to(ROOT)} names {ref}"
            for ref in DOC_REFERENCE.findall(text)
            if not (ROOT / ref).exists()
        ]
        if path.suffix == ".md":
            dangling += [
                f"{path.relative_to(ROOT)} links {target}" + (f"#{anchor}" if anchor else "")
                for target, anchor in _links(path)
                if not target.exists()
                or (anchor and target.suffix == ".md" and anchor not in _anchors(target))
            ]
    assert dangling == []


def test_the_readme_opens_the_door_and_the_docs_hold_the_rest() -> None:
    """The README stays short enough to read first, and every page of docs/ can be reached
    from it by links."""
    readme = (ROOT / "README.md").resolve()
    assert len(readme.read_text().splitlines()) <= README_MAX_LINES
    reached, todo = {readme}, [readme]
    while todo:
        for target, _ in _links(todo.pop()):
            if target.suffix == ".md" and target.exists() and target not in reached:
                reached.add(target)
                todo.append(target)
    pages = {page.resolve() for page in (ROOT / "docs").glob("*.md")}
    assert sorted(p.name for p in pages - reached) == []


def test_the_error_tree_in_the_architecture_names_every_class() -> None:
    section = (ROOT / "docs" / "architecture.md").read_text().split("## Errors", 1)[1]
    section = section.split("\n## ", 1)[0]
    classes = [
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.RendergateError)
    ]
    assert [name for name in classes if f"`{name}`" not in section] == []
