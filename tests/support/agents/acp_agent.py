#!/usr/bin/env python3
"""A scripted ACP agent on the SDK's agent side: no model, the prompt says what to do.

  run: CMD          a tool call (execute) and a permission request; runs CMD if allowed
  ask: CMD          as run, the call announced only by the permission request
  later: CMD        as run, the call started without input, given by an update
  write: PATH TEXT  a tool call (edit, with its diff), a permission request, then
                    fs/write_text_file through the client
  read: PATH        fs/read_text_file through the client
  slow              a tool call that waits until the turn is cancelled
  spawn             a child (sleep) in the agent's process group; says its pid
  crash             a line on stderr, exit status 3
  stop: REASON      the turn ends with that stopReason (max_tokens, refusal, ...)
  model             the model chosen through its "model" config option
  history           every earlier prompt of the session (a loaded one too)
  TEXT              echoed in two chunks, with usage (tokens, cost)
Each permission answer is reported as "permission: KIND". argv: --sessions FILE
(sessions remembered there, for session/load), --no-load (loadSession not offered),
--always-only (only allow_always and reject_always offered).
"""

import asyncio
import json
import os
import sys
import uuid
from asyncio.subprocess import DEVNULL, PIPE
from pathlib import Path

import acp
from acp.schema import (
    AgentCapabilities,
    AllowedOutcome,
    Cost,
    InitializeResponse,
    LoadSessionResponse,
    NewSessionResponse,
    PermissionOption,
    PromptResponse,
    SessionConfigOptionSelect,
    SessionConfigSelectOption,
    SetSessionConfigOptionResponse,
    Usage,
    UsageUpdate,
)

ARGS = sys.argv[1:]
STORE = Path(ARGS[ARGS.index("--sessions") + 1] if "--sessions" in ARGS else ".acp-sessions.json")
KINDS = ["allow_always", "reject_always"] if "--always-only" in ARGS else [
    "reject_always", "allow_always", "reject_once", "allow_once"]  # fmt: skip
# Option ids that say nothing of their kind: a client must choose by kind.
OPTIONS = [PermissionOption(option_id=f"opt-{i}", name=k, kind=k) for i, k in enumerate(KINDS)]


class ScriptedAgent:
    def on_connect(self, conn):
        self.client, self.cancelled = conn, asyncio.Event()

    async def initialize(self, protocol_version, **_):
        can_load = "--no-load" not in ARGS
        caps = AgentCapabilities(load_session=can_load)
        return InitializeResponse(protocol_version=acp.PROTOCOL_VERSION, agent_capabilities=caps)

    def sessions(self):
        return json.loads(STORE.read_text()) if STORE.exists() else {}

    async def new_session(self, cwd, **_):
        sid = f"acp-{uuid.uuid4().hex[:8]}"
        STORE.write_text(json.dumps({**self.sessions(), sid: []}))
        return NewSessionResponse(session_id=sid, config_options=self.options())

    def options(self, model="small"):
        self.model = model
        choices = [SessionConfigSelectOption(value=v, name=v) for v in ("small", "large")]
        return [SessionConfigOptionSelect(id="model", name="Model", category="model",
            type="select", current_value=model, options=choices)]  # fmt: skip

    async def set_config_option(self, config_id, session_id, value, **_):
        return SetSessionConfigOptionResponse(config_options=self.options(value))

    async def load_session(self, cwd, session_id, **_):
        if session_id not in self.sessions():
            raise acp.RequestError.resource_not_found(session_id)
        for said in self.sessions()[session_id]:  # the replay a client must not record again
            await self.client.session_update(session_id, acp.update_user_message_text(said))
        await self.client.session_update(session_id, self.usage())
        return LoadSessionResponse()

    def usage(self):  # the session's cost so far: always a quarter, for the tests
        cost = Cost(amount=0.25, currency="USD")
        return UsageUpdate(session_update="usage_update", used=10, size=100, cost=cost)

    async def cancel(self, session_id, **_):
        self.cancelled.set()

    async def say(self, sid, *chunks):
        for chunk in chunks:
            await self.client.session_update(sid, acp.update_agent_message_text(chunk))

    async def ask(self, sid, call_id, verb, **call):
        if verb == "run":
            await self.client.session_update(sid, acp.start_tool_call(call_id, **call))
        elif verb == "later":  # as opencode: no input at first, then an update gives it
            start = acp.start_tool_call(call_id, "bash", kind="execute", raw_input={"cwd": "."})
            await self.client.session_update(sid, start)
            await self.client.session_update(sid, acp.update_tool_call(call_id, **call))
        tool_call = acp.schema.ToolCallUpdate(tool_call_id=call_id, **call)
        answer = await self.client.request_permission(sid, tool_call, OPTIONS)
        if not isinstance(answer.outcome, AllowedOutcome):
            await self.finish(sid, call_id, "failed", "cancelled")
            return None
        kind = OPTIONS[int(answer.outcome.option_id.split("-")[1])].kind
        await self.say(sid, f"permission: {kind}\n")
        return kind

    async def finish(self, sid, call_id, status, output):
        out = [acp.tool_content(acp.text_block(output))]
        await self.client.session_update(
            sid, acp.update_tool_call(call_id, status=status, content=out)
        )

    async def prompt(self, prompt, session_id, **_):
        sid, text = session_id, "".join(block.text for block in prompt)
        self.cancelled.clear()
        history = self.sessions()
        STORE.write_text(json.dumps({**history, sid: [*history.get(sid, []), text]}))
        verb, _, rest = text.partition(": ")
        if verb in ("run", "ask", "later"):
            kind = await self.ask(
                sid, "call-run", verb, title=f"Run {rest}", kind="execute",
                raw_input={"command": rest},
            )  # fmt: skip
            if kind is None:
                return PromptResponse(stop_reason="cancelled")
            if kind.startswith("allow"):
                shell = await asyncio.create_subprocess_shell(rest, stdout=PIPE)
                output = (await shell.communicate())[0].decode()
                await self.finish(sid, "call-run", "completed", output)
                await self.say(sid, f"ran: {output}")
            else:
                await self.finish(sid, "call-run", "failed", "rejected")
        elif verb in ("write", "read"):
            path, _, body = rest.partition(" ")
            kind = "allow_once"
            if verb == "write":
                diff = [acp.tool_diff_content(path, body)]
                kind = await self.ask(
                    sid, "call-write", "run", title=f"Write {path}", kind="edit", content=diff
                )
            if kind is None or not kind.startswith("allow"):
                return PromptResponse(stop_reason="cancelled" if kind is None else "end_turn")
            try:
                if verb == "write":
                    await self.client.write_text_file(session_id=sid, path=path, content=body)
                    await self.say(sid, f"wrote {path}")
                else:
                    read = await self.client.read_text_file(session_id=sid, path=path)
                    await self.say(sid, f"read: {read.content}")
            except acp.RequestError as exc:
                await self.say(sid, f"refused: {exc}")
        elif text == "slow":
            await self.client.session_update(
                sid,
                acp.start_tool_call(
                    "call-slow", "Wait", kind="other", raw_input={"until": "cancel"}
                ),
            )
            await self.cancelled.wait()
            return PromptResponse(stop_reason="cancelled")
        elif text == "spawn":
            child = await asyncio.create_subprocess_exec(
                "sleep", "300", stdin=DEVNULL, stdout=DEVNULL
            )
            await self.say(sid, f"child {child.pid}")
        elif text == "crash":
            print("acp_agent: crashing as asked", file=sys.stderr, flush=True)
            os._exit(3)
        elif verb == "stop":
            return PromptResponse(stop_reason=rest)
        elif text == "model":
            await self.say(sid, f"model: {self.model}")
        elif text == "history":
            await self.say(sid, "history: " + " | ".join(history.get(sid, [])))
        else:
            await self.client.session_update(sid, self.usage())
            await self.say(sid, "echo: ", text)
        usage = Usage(input_tokens=7, output_tokens=3, total_tokens=10)
        return PromptResponse(stop_reason="end_turn", usage=usage)


if __name__ == "__main__":
    asyncio.run(acp.run_agent(ScriptedAgent()))
