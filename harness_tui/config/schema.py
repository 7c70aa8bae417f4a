"""The schema: one frozen dataclass per section, and `setting()` for a field's
constraints.

The validator reads nothing but these dataclasses (their fields, type hints and
metadata), so a new section is a new dataclass here, a field on `Config` and its
defaults in `config/default.toml`; a test checks that the two agree. Supported field
types: bool, int, float (an int is accepted), str, list[T], dict[str, T], a nested
section dataclass, and dataclasses as list items or dict values ("records", e.g.
`[[projects]]` or `[presets.NAME]`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness_tui import paths
from harness_tui.config.keymap import BINDING_IDS, key_problem

PROVIDER_NAMES = ("auto", "scripted", "anthropic", "openai")

# Upper bounds. Every number a file may set has one, so that `inf` or a 23-digit
# integer is refused naming its key instead of overflowing or meaning "forever" by
# accident; each bound is far past any use anyone has asked for.
MIB = 1024 * 1024
HOUR_S = 3600
DAY_S = 24 * HOUR_S
WEEK_S = 7 * DAY_S


def setting(
    default: Any = dataclasses.MISSING,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: tuple[str, ...] | None = None,
    check: Callable[[Any], str | None] | None = None,
    names: tuple[str, ...] | None = None,
) -> Any:
    """A config field with its constraints: bounds (`ge` ≥, `gt` >, `le` ≤, `lt` <) for
    numbers, `choices` for strings, and `check` for a rule neither can say: given a
    value of the field's type, it returns None when the value is acceptable, else what
    was expected (the problem reads `expected {that}, got VALUE`). On a list field they
    apply to every item, on a dict field to every value; `names` are the only keys a
    dict field's entries may have. A list or dict default is copied for each instance,
    as dataclasses require."""
    constraints = (("ge", ge), ("gt", gt), ("le", le), ("lt", lt), ("choices", choices))
    metadata = {
        name: value
        for name, value in (*constraints, ("check", check), ("names", names))
        if value is not None
    }
    if isinstance(default, list | dict):
        template = default
        return field(default_factory=lambda: _copy(template), metadata=metadata)
    return field(default=default, metadata=metadata)


def _copy(value: Any) -> Any:
    if isinstance(value, list):
        return [_copy(item) for item in value]
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    return value


INTERNAL = "internal"
"""Field metadata key marking the fields of `Config` that are facts about the load,
not settings a file may hold."""
_NOT_A_SETTING = {INTERNAL: True}


STORE_URL_FORMS = "sqlite:///PATH, postgresql://HOST/DB or postgres://HOST/DB"
"""The store URLs `harness_tui.store.open_store` opens, as a problem names them."""


def store_url_problem(url: str) -> str | None:
    """What a store URL was expected to be, or None when `open_store` can open it.

    Checked with the rest of the config, so a URL no backend takes is refused at start-up
    naming the file and line, variable or flag it came from, before anything is opened.
    """
    if not url or url.startswith(("postgresql://", "postgres://")):
        return None
    if url.startswith("sqlite:///"):
        # The store ignores a query string, so `sqlite:///?mode=rw` names no file either.
        named = url.removeprefix("sqlite:///").split("?", 1)[0]
        return None if named else "a database file after sqlite:///"
    return STORE_URL_FORMS


@dataclass(frozen=True)
class StoreConfig:
    url: str = setting("", check=store_url_problem)
    """Where every event is kept. Empty means <project>/.harness/harness.db.
    `sqlite:///absolute/path/harness.db` (its directory must exist) or
    `postgresql://user@host:5432/database` (or `postgres://`)."""
    retry_s: float = setting(10.0, ge=0, le=3600)
    """Seconds a store write or read that failed for a passing reason (PostgreSQL
    restarting or its connections cut, a full disk) is retried, with growing waits,
    before the run stops with an error; 0 tries once."""


@dataclass(frozen=True)
class ControlConfig:
    lease_s: float = setting(30.0, ge=0.5, le=HOUR_S)
    """Seconds an engine's lease on a session it runs lasts; renewed every third of
    that while the engine lives. A session whose lease ran out counts as orphaned: the
    next engine that adopts it recovers its interrupted work."""
    host: str = ""
    """The name this machine's engines give in leases and owner records, and that
    `sessions` shows. Empty means the machine's hostname."""
    command_timeout_s: float = setting(10.0, ge=0, le=DAY_S)
    """Seconds `approve`, `send` and `cancel` wait for the engine that runs the session
    to apply their command, before they say it is still pending (it stays queued)."""


@dataclass(frozen=True)
class ProviderConfig:
    name: str = setting("auto", choices=PROVIDER_NAMES)
    """auto: anthropic when ANTHROPIC_API_KEY is set, else openai when OPENAI_API_KEY or
    [openai] base_url is set; with none of them the dashboard plays the offline demo and
    --exec refuses to start. Or name one: scripted (the offline demo), anthropic, openai."""
    model: str = ""
    """Empty means the chosen provider's own default model (see its section)."""
    max_tokens: int = setting(8192, ge=1, le=1_000_000)
    """Largest reply the model may write in one request."""
    max_retries: int = setting(4, ge=0, le=100)
    """Transient failures (429, 5xx, connection reset, timeout) are retried this many
    times with exponential backoff and jitter; retry-after is honoured."""
    retry_base_delay_s: float = setting(0.5, ge=0, le=HOUR_S)
    """The first delay of the exponential backoff."""
    retry_max_delay_s: float = setting(30.0, ge=0, le=HOUR_S)
    """Backoff never waits longer than this."""
    circuit_breaker_failures: int = setting(6, ge=1, le=1000)
    """After this many consecutive failed requests the session fails."""
    request_timeout_s: float = setting(600.0, gt=0, le=DAY_S)
    """Seconds one model request may take in all, from sending it to the end of the
    reply, however busy its stream; then it fails as a timeout (and is retried)."""
    idle_timeout_s: float = setting(300.0, gt=0, le=DAY_S)
    """Seconds a model request may wait for the server's next stream event (or its
    first). Keep-alives (`event: ping`, `: keep-alive`) do not count: a server that
    sends only them is stuck."""


@dataclass(frozen=True)
class AnthropicConfig:
    base_url: str = ""
    """Empty means ANTHROPIC_BASE_URL, else the SDK default."""
    model: str = "claude-sonnet-5-5"
    """The model used when [provider] model is empty."""
    prompt_caching: bool = True
    """Cache the system prompt and tool definitions between requests."""


@dataclass(frozen=True)
class OpenAIConfig:
    base_url: str = ""
    """Empty means OPENAI_BASE_URL, else the SDK default. For Ollama use
    http://localhost:11434/v1, for vLLM http://HOST:8000/v1."""
    model: str = "gpt-5.5"
    """The model used when [provider] model is empty."""
    api_key_env: str = "OPENAI_API_KEY"
    """Name of the environment variable that holds the key. Local servers that need no
    key work without it."""


@dataclass(frozen=True)
class ScriptedConfig:
    script: str = "demo"
    """A built-in script name (demo) or the path of a .toml or .jsonl script."""
    delay_ms: int = setting(0, ge=0, le=HOUR_S * 1000)
    """Pause before each scripted reply, so a demo can be watched; 0 in tests."""
    slow_step_s: float = setting(6.0, ge=0, le=DAY_S)
    """Seconds a script's slow step takes: `{slow_step_s}` in a tool call's arguments
    stands for it. The demo's background check sleeps this long; tests shorten it."""


@dataclass(frozen=True)
class PriceConfig:
    """One `[pricing."MODEL"]` entry: what the model costs, in US dollars per million
    tokens. Cached input tokens are charged at the input price."""

    input: float = setting(ge=0, le=1_000_000)
    """Per million input tokens."""
    output: float = setting(ge=0, le=1_000_000)
    """Per million output tokens."""


@dataclass(frozen=True)
class EngineConfig:
    max_steps: int = setting(40, ge=1, le=100_000)
    """A turn stops after this many model requests (exit reason max_steps)."""
    max_total_tokens: int = setting(0, ge=0, le=10**12)
    """Token budget for one session; 0 means no limit (exit reason budget)."""
    max_cost_usd: float = setting(0.0, ge=0, le=1_000_000)
    """Cost budget for one session in US dollars; 0 means no limit. A session whose
    model has no known price is refused rather than run unmetered: set [pricing."MODEL"]."""
    system_prompt: str = ""
    """Extra instructions appended to the built-in system prompt."""


@dataclass(frozen=True)
class ToolsConfig:
    bash_timeout_s: int = setting(600, gt=0, le=WEEK_S)
    """Seconds a bash command may run in the foreground before it is stopped."""
    output_limit_bytes: int = setting(30000, ge=1, le=64 * MIB)
    """Tool output above this many bytes goes to an artifact file; the transcript gets
    the head, the tail and the artifact's path."""
    max_read_lines: int = setting(2000, ge=1, le=10_000_000)
    """read_file returns at most this many lines per call."""
    inline_ms: int = setting(5000, ge=0, le=DAY_S * 1000)
    """A bash command still running after this many milliseconds becomes a background
    task; the agent gets its id at once and is told when it finishes."""
    output_store_max_bytes: int = setting(MIB, ge=4096, le=1024 * MIB)
    """The most of one command's output kept in memory and in the event log: what a
    foreground command's result is cut from, and the `task.output` events of a
    background task. The output past it still goes, every byte as written, to the
    command's artifact file; the log says where it was cut and names the file."""


@dataclass(frozen=True)
class PolicyConfig:
    approval_mode: str = setting("on-request", choices=("untrusted", "on-request", "auto", "never"))
    """untrusted: prompt for anything no rule allows; on-request: prompt where a rule
    says prompt; auto: allow all but forbidden; never: a prompt becomes a denial."""
    allow_env: list[str] = setting([])
    """Secret-looking environment variables tools may still see, by name."""


SANDBOX_MODES = ("read-only", "workspace-write", "danger-full-access")


def path_problem(path: str) -> str | None:
    """What a path in [sandbox] read or write was expected to be: absolute, or from ~."""
    if path.startswith(("/", "~")):
        return None
    return "an absolute path or one starting with ~"


def env_name_problem(name: str) -> str | None:
    if name and all(c.isalnum() or c == "_" for c in name) and not name[0].isdigit():
        return None
    return "an environment variable name (letters, digits and _)"


@dataclass(frozen=True)
class SandboxConfig:
    mode: str = setting("workspace-write", choices=SANDBOX_MODES)
    """How the agent's commands (bash, background tasks, validation, guards) run, chosen
    when a session starts: read-only (they write nothing but a private /tmp),
    workspace-write (they write the workspace, not its .harness/, .git/hooks or
    .git/config), danger-full-access (no sandbox at all). `--sandbox MODE` with --exec."""
    network: bool = False
    """Whether commands may use the network. Without it a command that needs it (curl,
    git fetch, pip install, …) asks for approval, and runs with the network if given."""
    read: list[str] = setting([], check=path_problem)
    """Paths commands may read although they are in your home (which they see empty),
    e.g. "~/.cargo" or "~/.local/bin"."""
    write: list[str] = setting([], check=path_problem)
    """Paths outside the workspace commands may write, e.g. "~/.cache/pip"."""
    env: list[str] = setting([], check=env_name_problem)
    """Environment variables commands get besides PATH, HOME, USER, SHELL, LANG, LC_*,
    TERM, TZ and TMPDIR (and [policy] allow_env), e.g. "VIRTUAL_ENV"."""
    bwrap: str = ""
    """The bubblewrap program; empty means `bwrap` on PATH. Without a working one the
    policy alone judges commands, and any command no rule allows needs approval."""


@dataclass(frozen=True)
class UIConfig:
    theme: str = "harness-dark"
    """A built-in theme (themes/*.toml) or one in $XDG_CONFIG_HOME/harness-tui/themes."""
    key_guard_ms: int = setting(400, ge=0, le=60_000)
    """How long an approval prompt ignores keys after it opens (and after each key
    pressed meanwhile), so that keys typed for something else never answer it."""


@dataclass(frozen=True)
class GCSignalsConfig:
    """Thresholds of the GC signals: a pattern becomes a signal at this many sightings."""

    repeated_warning: int = setting(3, ge=1, le=1_000_000)
    """The same policy prompt or approval-denial reason this many times."""
    chronic_block: int = setting(3, ge=1, le=1_000_000)
    """The same rule forbidding commands this many times."""
    hot_file: int = setting(5, ge=1, le=1_000_000)
    """The same file edited this many times, across sessions."""
    slow_tool_ms: int = setting(30000, ge=0, le=DAY_S * 1000)
    """A tool call that takes longer than this many milliseconds is slow."""
    slow_tool: int = setting(3, ge=1, le=1_000_000)
    """This many slow calls of one tool make a signal."""
    failure_window: int = setting(20, ge=2, le=100_000)
    """The most recent tool results compared, half against half, for a rising failure rate."""
    failure_rise: float = setting(1.5, ge=1, le=1000)
    """The second half of the window failing this many times as often as the first."""
    repeated_failing_command: int = setting(3, ge=1, le=1_000_000)
    """The same shell command failing this many times in one session."""


@dataclass(frozen=True)
class GCGradeConfig:
    """Weights of the grade's dimensions; only their ratios matter."""

    security: float = setting(0.4, ge=0, le=1000)
    """Forbidden and denied actions against tool calls."""
    stability: float = setting(0.3, ge=0, le=1000)
    """Failed tool calls and failed turns."""
    coverage: float = setting(0.2, ge=0, le=1000)
    """Turns that edited files and also ran tests or validation."""
    speed: float = setting(0.1, ge=0, le=1000)
    """Tool calls and turns within their time limits."""


@dataclass(frozen=True)
class GCConfig:
    retention_days: int = setting(30, ge=1, le=100 * 365)
    """`gc run` prunes sessions, artifacts and worktrees older than this; a running
    session is never touched."""
    cooldown_s: int = setting(300, ge=0, le=WEEK_S)
    """After a session ends, GC runs at most once in this many seconds."""
    max_drafts_per_run: int = setting(3, ge=0, le=1000)
    """At most this many remediation drafts in one GC run."""
    draft_ttl_hours: int = setting(72, ge=1, le=100 * 365 * 24)
    """A draft nobody adopted or rejected expires after this many hours."""
    budget_per_signal: int = setting(1, ge=0, le=1000)
    """Drafts one signal may ever get, whatever became of them."""
    budget_per_run: int = setting(3, ge=0, le=1000)
    """Drafts one GC run may create."""
    budget_total: int = setting(20, ge=0, le=1_000_000)
    """Drafts the project may ever get; past it, signals are recorded without a draft."""
    auto: bool = True
    """Run GC by itself after a session ends; false leaves it to `harness-tui gc run`."""
    signals: GCSignalsConfig = field(default_factory=GCSignalsConfig)
    grade: GCGradeConfig = field(default_factory=GCGradeConfig)


@dataclass(frozen=True)
class GitConfig:
    worktree: bool = False
    """Run this project's sessions in their own git worktree unless told otherwise
    (`--worktree` / `--no-worktree`, or the dashboard's option)."""
    base_branch: str = ""
    """The branch (or any ref) a session's worktree starts from; empty means the branch
    checked out when the session starts."""
    branch_prefix: str = "harness/"
    """A session's branch is this prefix followed by the session id."""
    cleanup: bool = True
    """Remove the worktree when its session ends; the branch, with its commit, stays."""


@dataclass(frozen=True)
class ConcurrencyConfig:
    max_worktree_sessions: int = setting(4, ge=1, le=1000)
    """Worktree sessions running at once, all projects together; more wait, queued."""
    per_project: int = setting(2, ge=1, le=1000)
    """Worktree sessions of one project running at once, unless its [[projects]] entry
    says otherwise."""
    queue_cap: int = setting(50, ge=0, le=100_000)
    """Worktree sessions that may wait at once; one more is refused with a message."""
    fleet_sessions: int = setting(0, ge=0, le=100_000)
    """Submitted sessions (`harness-tui submit`) running at once across every worker
    sharing the store, counted in the store; 0: no limit but each worker's own."""
    fleet_per_project: int = setting(0, ge=0, le=100_000)
    """Submitted sessions of one project running at once across every worker, unless
    its [[projects]] entry says otherwise (max_fleet); 0: no limit."""
    worker_sessions: int = setting(2, ge=1, le=1000)
    """Sessions one `harness-tui worker` runs at once (--max-sessions)."""


@dataclass(frozen=True)
class ProjectConfig:
    """One `[[projects]]` entry: scheduling for the project at `path`."""

    path: str
    """The project folder, as an absolute path or starting with ~."""
    max_concurrent: int = setting(0, ge=0, le=1000)
    """Its worktree sessions running at once; 0 means [concurrency] per_project."""
    max_fleet: int = setting(0, ge=0, le=100_000)
    """Its submitted sessions running at once across every worker on the store; 0 means
    [concurrency] fleet_per_project."""
    priority: int = setting(0, ge=-1_000_000, le=1_000_000)
    """Queued sessions of higher-priority projects start first; ties go to the oldest.
    Also the priority of its sessions `harness-tui submit` queues without --priority."""


@dataclass(frozen=True)
class ValidationConfig:
    commands: list[str] = setting([])
    """Shell commands run in the worktree, in order, after the agent finishes; the first
    failure stops the rest and goes back to the agent."""
    timeout_s: int = setting(600, gt=0, le=WEEK_S)
    """Seconds one command may run before it is stopped (and counts as failed)."""
    max_retries: int = setting(2, ge=0, le=100)
    """Times a failure goes back to the agent as a new turn before the session fails."""
    retry_backoff_s: float = setting(1.0, ge=0, le=HOUR_S)
    """Pause before the first retry, doubled for each one after it."""
    output_tail_bytes: int = setting(4000, ge=1, le=64 * MIB)
    """The last this many bytes of a command's output are kept and shown to the agent."""


@dataclass(frozen=True)
class PresetConfig:
    description: str = ""
    """What the preset is for, shown to the model in spawn_subagent's choices."""
    system_prompt: str = ""
    """Instructions added to the subagent's system prompt."""
    tools: list[str] = setting([])
    """The tools the subagent may call; empty means all but spawn_subagent."""
    provider: str = ""
    """Empty means the parent session's provider."""
    model: str = ""
    """Empty means the parent session's model."""
    max_steps: int = setting(20, ge=1, le=100_000)
    """Model requests per turn of the subagent."""


BUILTIN_PRESETS = {
    "explore": PresetConfig(
        description="Read-only exploration: finds and reads code and reports what it found",
        system_prompt=(
            "You are exploring the codebase for another agent. Read, search and report "
            "concisely; you cannot change files."
        ),
        tools=["read_file", "glob", "grep"],
        max_steps=20,
    ),
    "worker": PresetConfig(
        description="A self-contained piece of work, with every tool",
        system_prompt=(
            "You are doing one self-contained task for another agent. Finish it, check "
            "it, and report what you changed."
        ),
        max_steps=40,
    ),
}


AGENT_PROTOCOLS = ("acp", "claude", "codex")


@dataclass(frozen=True)
class AgentConfig:
    """One `[agents.NAME]` entry: an external agent a session can run on."""

    protocol: str = setting("acp", choices=AGENT_PROTOCOLS)
    """How we speak to it: acp (Agent Client Protocol), claude (Claude Code's stream-json
    control protocol) or codex (`codex app-server`)."""
    command: str = ""
    """The program to run: a name on PATH or a path."""
    args: list[str] = setting([])
    """Its arguments."""
    env: dict[str, str] = setting({})
    """Variables set for it, over what it gets from pass_env."""
    pass_env: list[str] = setting([])
    """Variables passed through from our environment when set (its model endpoint and
    key). Nothing else of ours reaches it but PATH, HOME, locale and terminal: other
    tools' AI keys are never passed."""
    model: str = ""
    """The model to ask it for; empty: its own default."""
    description: str = ""
    """Shown by `harness-tui agents` and the new-session form."""
    package: str = ""
    """The npm package (name@version) that provides it, shown when it is missing."""


_CLAUDE_ENV = [
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_MODEL",
    "CLAUDE_CONFIG_DIR",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
    "IS_SANDBOX",
]
_CODEX_ENV = ["OPENAI_BASE_URL", "OPENAI_API_KEY", "CODEX_API_KEY", "CODEX_HOME"]
_GEMINI_ENV = ["GOOGLE_GEMINI_BASE_URL", "GEMINI_API_KEY", "GOOGLE_API_KEY"]

BUILTIN_AGENTS = {
    "claude": AgentConfig(
        protocol="claude",
        command="claude",
        pass_env=_CLAUDE_ENV,
        description="Claude Code, native (stream-json control protocol)",
        package="@anthropic-ai/claude-code",
    ),
    "codex": AgentConfig(
        protocol="codex",
        command="codex",
        args=["app-server"],
        pass_env=_CODEX_ENV,
        description="Codex CLI, native (codex app-server)",
        package="@openai/codex",
    ),
    "opencode": AgentConfig(
        protocol="acp",
        command="opencode",
        args=["acp"],
        pass_env=["OPENCODE_CONFIG", "OPENCODE_CONFIG_DIR", "OPENAI_BASE_URL", "OPENAI_API_KEY"],
        description="OpenCode through ACP (opencode acp)",
        package="opencode-ai",
    ),
    "gemini": AgentConfig(
        protocol="acp",
        command="gemini",
        args=["--acp"],
        pass_env=_GEMINI_ENV,
        description="Gemini CLI through ACP (gemini --acp)",
        package="@google/gemini-cli",
    ),
    "claude-acp": AgentConfig(
        protocol="acp",
        command="claude-agent-acp",
        pass_env=_CLAUDE_ENV,
        description="Claude Code through its ACP adapter",
        package="@agentclientprotocol/claude-agent-acp",
    ),
    "codex-acp": AgentConfig(
        protocol="acp",
        command="codex-acp",
        # Without these it never asks before it runs a command.
        args=["-c", 'approval_policy="untrusted"', "-c", 'sandbox_mode="workspace-write"'],
        pass_env=_CODEX_ENV,
        description="Codex through its ACP adapter",
        package="@zed-industries/codex-acp",
    ),
}


@dataclass(frozen=True)
class SubagentsConfig:
    max_depth: int = setting(1, ge=0, le=100)
    """How deep subagents may nest: 1 lets a session spawn subagents that cannot
    spawn their own."""


@dataclass(frozen=True)
class CompactionConfig:
    context_window: int = setting(200000, ge=1000, le=100_000_000)
    """Tokens the model can take in one request."""
    threshold: float = setting(0.8, gt=0, le=1)
    """Compact when the last request's input passes this share of the window."""
    keep_replies: int = setting(4, ge=1, le=10_000)
    """The newest model replies, with their tool results, are never summarised."""
    elide_bytes: int = setting(2000, ge=100, le=64 * MIB)
    """Older tool outputs above this size are the first to be replaced by stubs."""


@dataclass(frozen=True)
class Config:
    """The merged configuration. Build it with `load_config()`."""

    project: Path = field(metadata=_NOT_A_SETTING)
    """The project directory: --project, else the git root of the working directory."""
    store: StoreConfig = field(default_factory=StoreConfig)
    control: ControlConfig = field(default_factory=ControlConfig)
    provider: ProviderConfig = field(default_factory=ProviderConfig)
    anthropic: AnthropicConfig = field(default_factory=AnthropicConfig)
    openai: OpenAIConfig = field(default_factory=OpenAIConfig)
    scripted: ScriptedConfig = field(default_factory=ScriptedConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    tools: ToolsConfig = field(default_factory=ToolsConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    ui: UIConfig = field(default_factory=UIConfig)
    gc: GCConfig = field(default_factory=GCConfig)
    git: GitConfig = field(default_factory=GitConfig)
    concurrency: ConcurrencyConfig = field(default_factory=ConcurrencyConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    subagents: SubagentsConfig = field(default_factory=SubagentsConfig)
    compaction: CompactionConfig = field(default_factory=CompactionConfig)
    presets: dict[str, PresetConfig] = setting(BUILTIN_PRESETS)
    """Subagent presets by name; explore and worker are built in."""
    agents: dict[str, AgentConfig] = setting(BUILTIN_AGENTS)
    """External agents a session can run on (`--agent NAME`), by name; claude, codex,
    opencode, gemini, claude-acp and codex-acp are built in."""
    projects: list[ProjectConfig] = setting([])
    """Per-project scheduling of worktree sessions; see ProjectConfig."""
    pricing: dict[str, PriceConfig] = setting({})
    """Model name -> its price, for models the built-in price table does not know
    (local or new models); it also overrides the table."""
    keys: dict[str, str] = setting({}, names=BINDING_IDS, check=key_problem)
    """Binding id -> key, e.g. quit = "ctrl+q". `?` in the dashboard lists the ids."""
    sources: dict[str, str] = field(
        default_factory=dict, compare=False, repr=False, metadata=_NOT_A_SETTING
    )
    """Dotted key ("engine.max_steps") -> the layer its value came from: "default",
    "user file PATH", "project file PATH", "env NAME" or "flag"."""

    @property
    def store_url(self) -> str:
        """store.url, else the project's own SQLite file."""
        if self.store.url:
            return self.store.url
        return f"sqlite:///{paths.default_store_path(self.project)}"
