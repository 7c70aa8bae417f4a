"""glob and grep over a real directory tree."""

from __future__ import annotations

import os

import pytest

from harness_tui.tools.base import ToolError
from harness_tui.tools.globmatch import GlobMatcher
from harness_tui.tools.search import GREP_MAX_FILE_BYTES, GlobTool, GrepTool
from tests.tools import make_ctx


@pytest.fixture
def ctx(tmp_path):
    ctx = make_ctx(tmp_path)
    ws = ctx.workspace
    files = {
        "README.md": "# Demo\nThe needle is documented here.\n",
        "src/app.py": "import os\n\nNEEDLE = 1\nprint(NEEDLE)\n",
        "src/pkg/__init__.py": "",
        "src/pkg/mod.py": "def find():\n    return 'needle'\n",
        "docs/guide.md": "no match in this one\n",
        ".git/config": "needle in git internals\n",
        ".git/hooks/pre-commit.py": "needle\n",
        ".harness/notes.py": "needle\n",
    }
    for rel, text in files.items():
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(text)
    (ws / "src/pkg/data.bin").write_bytes(b"needle\x00\x01\x02")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "leak.py").write_text("needle outside\n")
    os.symlink(outside, ws / "linked")
    os.symlink(outside / "leak.py", ws / "leak_link.py")
    os.symlink("src/app.py", ws / "app_alias.py")
    return ctx


async def glob(ctx, **args):
    return await GlobTool().run(args, ctx)


async def grep(ctx, **args):
    return await GrepTool().run(args, ctx)


# -- glob ------------------------------------------------------------------------------


async def test_glob_recursive_sorted_and_skips_git_and_harness(ctx):
    result = await glob(ctx, pattern="**/*.py")
    assert result.content.splitlines() == [
        "app_alias.py",
        "src/app.py",
        "src/pkg/__init__.py",
        "src/pkg/mod.py",
    ]
    assert result.metadata == {"count": 4, "truncated": False}


async def test_glob_top_level_marks_directories(ctx):
    result = await glob(ctx, pattern="*")
    # The links to outside the workspace are not listed.
    assert result.content.splitlines() == ["README.md", "app_alias.py", "docs/", "src/"]


async def test_glob_in_a_subdirectory_reports_workspace_relative_paths(ctx):
    result = await glob(ctx, pattern="*.py", path="src")
    assert result.content.splitlines() == ["src/app.py"]
    result = await glob(ctx, pattern="pkg/*", path="src")
    assert result.content.splitlines() == [
        "src/pkg/__init__.py",
        "src/pkg/data.bin",
        "src/pkg/mod.py",
    ]
    result = await glob(ctx, pattern="src/**")
    assert "src/pkg/mod.py" in result.content.splitlines()


async def test_glob_does_not_follow_links_out_of_the_workspace(ctx):
    result = await glob(ctx, pattern="linked/*")
    assert result.metadata["count"] == 0
    assert "No files match" in result.content
    with pytest.raises(ToolError, match="outside the workspace"):
        await glob(ctx, pattern="*", path="linked")
    with pytest.raises(ToolError, match="must be relative"):
        await glob(ctx, pattern="../*")
    with pytest.raises(ToolError, match="must be relative"):
        await glob(ctx, pattern="/etc/*")


async def test_glob_is_capped_with_a_note(ctx):
    many = ctx.workspace / "many"
    many.mkdir()
    for i in range(600):
        (many / f"f{i:03}.txt").touch()
    result = await glob(ctx, pattern="many/*.txt")
    lines = result.content.splitlines()
    assert lines[0] == "many/f000.txt"
    assert len(lines) == 501
    assert lines[-1] == "[showing the first 500 of 600 matches; use a narrower pattern or path]"
    assert result.metadata == {"count": 600, "truncated": True}


async def test_glob_argument_errors(ctx):
    with pytest.raises(ToolError, match="missing required argument"):
        await GlobTool().run({}, ctx)
    with pytest.raises(ToolError, match="not a directory"):
        await glob(ctx, pattern="*", path="README.md")


# -- grep ------------------------------------------------------------------------------


async def test_grep_finds_lines_with_paths_and_numbers(ctx):
    result = await grep(ctx, pattern="needle")
    assert result.content.splitlines() == [
        "README.md:2: The needle is documented here.",
        "src/pkg/mod.py:2:     return 'needle'",
    ]
    assert result.metadata == {"matches": 2, "truncated": False}


async def test_grep_ignore_case_and_glob_filter(ctx):
    result = await grep(ctx, pattern="needle", ignore_case=True, glob="*.py")
    assert result.content.splitlines() == [
        "app_alias.py:3: NEEDLE = 1",
        "app_alias.py:4: print(NEEDLE)",
        "src/app.py:3: NEEDLE = 1",
        "src/app.py:4: print(NEEDLE)",
        "src/pkg/mod.py:2:     return 'needle'",
    ]
    result = await grep(ctx, pattern="needle", ignore_case=True, glob="src/**/*.py")
    assert [line.split(":")[0] for line in result.content.splitlines()] == [
        "src/app.py",
        "src/app.py",
        "src/pkg/mod.py",
    ]


async def test_grep_in_one_file_or_directory(ctx):
    result = await grep(ctx, pattern=r"^print\(", path="src/app.py")
    assert result.content == "src/app.py:4: print(NEEDLE)"
    result = await grep(ctx, pattern="return", path="src/pkg")
    assert result.content == "src/pkg/mod.py:2:     return 'needle'"
    with pytest.raises(ToolError, match="binary"):
        await grep(ctx, pattern="needle", path="src/pkg/data.bin")
    with pytest.raises(ToolError, match="outside the workspace"):
        await grep(ctx, pattern="needle", path="leak_link.py")


async def test_grep_no_matches(ctx):
    result = await grep(ctx, pattern="haystack")
    assert result.content == "No matches for 'haystack' in the workspace."
    assert result.metadata["matches"] == 0


async def test_grep_invalid_regex_names_the_pattern(ctx):
    with pytest.raises(ToolError) as info:
        await grep(ctx, pattern="(unclosed")
    assert "invalid regex '(unclosed'" in str(info.value)


async def test_grep_max_results_note(ctx):
    (ctx.workspace / "lots.txt").write_text("hit\n" * 50)
    result = await grep(ctx, pattern="hit", max_results=10)
    lines = result.content.splitlines()
    assert lines[:10] == [f"lots.txt:{i}: hit" for i in range(1, 11)]
    assert lines[10].startswith("[stopped after 10 matches")
    assert result.metadata == {"matches": 10, "truncated": True}
    # Exactly as many matches as asked for is not "stopped".
    result = await grep(ctx, pattern="hit", max_results=50)
    assert result.metadata == {"matches": 50, "truncated": False}


async def test_grep_skips_very_large_files_and_says_so(ctx):
    big = ctx.workspace / "big.log"
    with big.open("w") as f:
        line = "needle " + "x" * 1000 + "\n"
        for _ in range(GREP_MAX_FILE_BYTES // len(line) + 10):
            f.write(line)
    result = await grep(ctx, pattern="needle")
    assert not any(line.startswith("big.log:") for line in result.content.splitlines())
    assert "[skipped 1 file(s) over 5 MiB]" in result.content


async def test_grep_skips_fifos_instead_of_blocking_on_them(ctx):
    os.mkfifo(ctx.workspace / "src" / "pipe")
    result = await grep(ctx, pattern="return", path="src")
    assert result.content == "src/pkg/mod.py:2:     return 'needle'"
    with pytest.raises(ToolError, match="not a regular file"):
        await grep(ctx, pattern="x", path="src/pipe")


# -- ignore files ----------------------------------------------------------------------


@pytest.fixture
def ignoring_ctx(tmp_path):
    """A workspace whose ignore files exercise git's semantics: anchoring to the file's
    folder, negation, directory-only patterns, nested files, .ignore and info/exclude."""
    ctx = make_ctx(tmp_path)
    ws = ctx.workspace
    files = {
        ".gitignore": ".venv/\n*.log\n!keep.log\nbuild/\n/top.txt\n",
        ".ignore": "secrets/\n",
        ".git/info/exclude": "scratch.py\n",
        "app.py": "needle\n",
        "top.txt": "needle\n",  # anchored to the root
        "docs/top.txt": "needle\n",
        "debug.log": "needle\n",
        "keep.log": "needle\n",  # re-included
        "scratch.py": "needle\n",  # info/exclude
        "secrets/key.txt": "needle\n",  # .ignore
        "lib/build/gen.py": "needle\n",  # a directory named build
        "out/build": "needle\n",  # a file named build: `build/` is for directories
        "src/.gitignore": "generated/\n/local.py\n!important.log\n",
        "src/main.py": "needle\n",
        "src/local.py": "needle\n",  # anchored to src/
        "src/pkg/local.py": "needle\n",
        "src/generated/x.py": "needle\n",
        "src/important.log": "needle\n",  # the nested file wins over the root one
        "src/other.log": "needle\n",
        ".venv/.gitignore": "*\n",
        ".venv/lib/site.py": "needle\n",
    }
    for rel, text in files.items():
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(text)
    # An ignore file linked from outside the workspace is not read (nor listed).
    (tmp_path / "outside.gitignore").write_text("*\n")
    os.symlink(tmp_path / "outside.gitignore", ws / "docs" / ".gitignore")
    return ctx


async def test_glob_skips_what_the_ignore_files_exclude(ignoring_ctx):
    result = await glob(ignoring_ctx, pattern="**/*")
    assert result.content.splitlines() == [
        ".gitignore",
        ".ignore",
        "app.py",
        "docs/",
        "docs/top.txt",
        "keep.log",
        "lib/",
        "out/",
        "out/build",
        "src/",
        "src/.gitignore",
        "src/important.log",
        "src/main.py",
        "src/pkg/",
        "src/pkg/local.py",
    ]


async def test_grep_skips_what_the_ignore_files_exclude(ignoring_ctx):
    result = await grep(ignoring_ctx, pattern="needle")
    assert [line.split(":")[0] for line in result.content.splitlines()] == [
        "app.py",
        "docs/top.txt",
        "keep.log",
        "out/build",
        "src/important.log",
        "src/main.py",
        "src/pkg/local.py",
    ]
    result = await grep(ignoring_ctx, pattern="needle", glob="src/**/*.py")
    assert [line.split(":")[0] for line in result.content.splitlines()] == [
        "src/main.py",
        "src/pkg/local.py",
    ]


async def test_ignored_directories_are_pruned_not_listed(ignoring_ctx, monkeypatch):
    listed: list[str] = []
    scandir = os.scandir

    def spy(path):
        listed.append(os.path.relpath(path, ignoring_ctx.workspace))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", spy)
    await glob(ignoring_ctx, pattern="**/*.py")
    await grep(ignoring_ctx, pattern="needle")
    assert set(listed) == {".", "docs", "lib", "out", "src", "src/pkg"}


async def test_an_ignored_path_named_on_purpose_is_searched(ignoring_ctx):
    result = await glob(ignoring_ctx, pattern="**/*.py", path=".venv")
    assert result.content.splitlines() == [".venv/lib/site.py"]
    result = await glob(ignoring_ctx, pattern=".venv/**/*.py")
    assert result.content.splitlines() == [".venv/lib/site.py"]
    result = await glob(ignoring_ctx, pattern="debug.log")
    assert result.content.splitlines() == ["debug.log"]
    result = await glob(ignoring_ctx, pattern="src/generated/x.py")
    assert result.content.splitlines() == ["src/generated/x.py"]
    result = await grep(ignoring_ctx, pattern="needle", path="src/generated")
    assert result.content == "src/generated/x.py:1: needle"
    result = await grep(ignoring_ctx, pattern="needle", path=".venv/lib")
    assert result.content == ".venv/lib/site.py:1: needle"
    result = await grep(ignoring_ctx, pattern="needle", path="debug.log")
    assert result.content == "debug.log:1: needle"


def test_the_tool_descriptions_say_ignored_files_are_skipped():
    for tool in (GlobTool, GrepTool):
        assert ".gitignore" in tool.spec.description


# -- repeated ** -----------------------------------------------------------------------


@pytest.mark.timeout(60)
async def test_repeated_double_star_costs_what_one_does(tmp_path, monkeypatch):
    """Six `**` find what one finds, with one matcher step per entry walked: the
    recursive matcher tried every way to share a path out among them."""
    ctx = make_ctx(tmp_path)
    entries = 0
    level = [ctx.workspace]
    for depth in range(6):
        below = []
        for directory in level:
            for name in "abc":
                sub = directory / name
                sub.mkdir()
                (sub / f"f{depth}.py").touch()
                (sub / f"zz{depth}.py").touch()
                below.append(sub)
                entries += 3
        level = below
    assert entries > 3000

    steps = 0
    step = GlobMatcher.step

    def counting(self, states, name):
        nonlocal steps
        steps += 1
        return step(self, states, name)

    monkeypatch.setattr(GlobMatcher, "step", counting)
    counts = {}
    results = {}
    for pattern in ("**/zz*.py", "**/**/**/**/**/**/zz*.py"):
        steps = 0
        results[pattern] = await glob(ctx, pattern=pattern)
        counts[pattern] = steps
    one, six = results.values()
    assert six.content == one.content
    assert six.metadata == one.metadata == {"count": 1092, "truncated": True}
    assert counts["**/**/**/**/**/**/zz*.py"] == counts["**/zz*.py"] == entries
