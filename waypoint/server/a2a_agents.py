"""Every workflow in `langgraph.json` as an A2A agent (official `a2a-sdk`, JSON-RPC binding).

Workflow NAME answers at `POST /a2a/NAME` (`SendMessage` / `SendStreamingMessage`, and the
v0.3 names `message/send` / `message/stream`; `GetTask`, `CancelTask`) and describes itself at
`GET /a2a/NAME/.well-known/agent-card.json`. A task is a thread (task id = thread id), run
through the server's own API as the caller (`waypoint.server.caller`), so every rule of a server
run holds: policy checks, owner, guards, ledger, kill switch.

- A message with no task id starts a thread: its data part (or a text part holding JSON) is the
  workflow's input, checked against the input schema first (a bad field is a JSON-RPC
  invalid-params error naming it; nothing is written).
- A question for a human ends the call with state `input-required`; the status message carries
  the pending HITL request as a data part. A follow-up message on the same task id is the answer
  (an `HITLResponse`, `{"decisions": [...]}`), optionally naming `metadata.interrupt_id`.
- `CancelTask` is Waypoint's kill of the thread: it halts before its next node, and an answer
  sent later runs nothing. The task reads `canceled`.
- Another user's task is `TaskNotFoundError`, as for a task that does not exist.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

from a2a.server.context import ServerCallContext
from a2a.server.events.event_queue import Event
from a2a.server.request_handlers.request_handler import RequestHandler
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    Artifact,
    CancelTaskRequest,
    DeleteTaskPushNotificationConfigRequest,
    GetExtendedAgentCardRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    HTTPAuthSecurityScheme,
    ListTaskPushNotificationConfigsRequest,
    ListTaskPushNotificationConfigsResponse,
    ListTasksRequest,
    ListTasksResponse,
    Message,
    Part,
    Role,
    SecurityRequirement,
    SecurityScheme,
    SendMessageRequest,
    StringList,
    SubscribeToTaskRequest,
    Task,
    TaskPushNotificationConfig,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)
from a2a.utils.errors import (
    InvalidParamsError,
    InvalidRequestError,
    PushNotificationNotSupportedError,
    TaskNotFoundError,
    UnsupportedOperationError,
)
from google.protobuf import struct_pb2
from google.protobuf.json_format import MessageToDict, ParseDict

from waypoint.errors import BadInput, Halted
from waypoint.server import caller as calls
from waypoint.server.caller import Caller, ThreadNotFound, ThreadView

CALLER_STATE = "waypoint_caller"
"""Where the authenticated `Caller` travels: the request's and the call context's state."""

_STATES = {
    "waiting": TaskState.TASK_STATE_INPUT_REQUIRED,
    "completed": TaskState.TASK_STATE_COMPLETED,
    "halted": TaskState.TASK_STATE_FAILED,
    "failed": TaskState.TASK_STATE_FAILED,
    "killed": TaskState.TASK_STATE_CANCELED,
    "running": TaskState.TASK_STATE_WORKING,
    "incomplete": TaskState.TASK_STATE_WORKING,
}


def _value(data: Any) -> struct_pb2.Value:
    return ParseDict(json.loads(json.dumps(data, default=str)), struct_pb2.Value())


def _struct(data: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(json.loads(json.dumps(data, default=str)))
    return struct


def _agent_message(view: ThreadView, parts: list[Part]) -> Message:
    return Message(
        message_id=f"{view.thread_id}:{view.status}",
        context_id=view.thread_id,
        task_id=view.thread_id,
        role=Role.ROLE_AGENT,
        parts=parts,
    )


def _status_message(view: ThreadView) -> Message | None:
    if view.status == "waiting":
        asks = [
            str(item["request"].get("action_requests", [{}])[0].get("description") or "")
            if isinstance(item["request"], dict)
            else ""
            for item in view.pending
        ]
        text = "Waiting for a human. " + " ".join(a for a in asks if a)
        text += (
            ' Answer with a message on this task whose data part is {"decisions": '
            '[{"type": "approve"}]} (or reject / edit / respond, as the request allows).'
        )
        data = {"thread_id": view.thread_id, "pending": view.pending}
        return _agent_message(view, [Part(text=text.strip()), Part(data=_value(data))])
    if view.reason:
        return _agent_message(view, [Part(text=view.reason)])
    return None


def task_of(view: ThreadView) -> Task:
    """The A2A task that shows a thread."""
    status = TaskStatus(state=_STATES.get(view.status, TaskState.TASK_STATE_WORKING))
    if (message := _status_message(view)) is not None:
        status.message.CopyFrom(message)
    artifacts = []
    if view.output is not None:
        artifacts.append(
            Artifact(
                artifact_id=f"{view.thread_id}:output",
                name="output",
                description=f"the final state of {view.graph}",
                parts=[Part(data=_value(view.output))],
            )
        )
    return Task(
        id=view.thread_id,
        context_id=view.thread_id,
        status=status,
        artifacts=artifacts,
        metadata=_struct({"waypoint": {"graph": view.graph, "status": view.status}}),
    )


def _content(message: Message) -> Any:
    """The value a message carries: its first data part, else its text as JSON, else the text."""
    for part in message.parts:
        if part.HasField("data"):
            return MessageToDict(part.data)
    texts = [part.text for part in message.parts if part.HasField("text")]
    if not texts:
        raise InvalidParamsError(
            message="message.parts: expected a data part (or a text part) with the content",
            data={"field": "message.parts"},
        )
    text = "\n".join(texts)
    try:
        return json.loads(text)
    except ValueError:
        return text


def _whole_numbers(value: Any) -> Any:
    """Floats that are whole numbers back to ints (protobuf `Value` keeps every number a double)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    return value


def _caller(context: ServerCallContext) -> Caller:
    found = context.state.get(CALLER_STATE)
    if not isinstance(found, Caller):  # the app authenticates every request before dispatch
        raise InvalidRequestError(message="unauthenticated call")
    return found


class WorkflowAgent(RequestHandler):
    """The A2A request handler of one workflow: tasks are the caller's threads of it."""

    def __init__(self, graph: str) -> None:
        """One per workflow in `langgraph.json`."""
        self.graph = graph

    async def _view(self, caller: Caller, task_id: str) -> ThreadView:
        try:
            view = await calls.view(caller, task_id)
        except (ThreadNotFound, BadInput):
            raise TaskNotFoundError(message=f"task {task_id} not found") from None
        if view.graph != self.graph:
            raise TaskNotFoundError(message=f"task {task_id} not found")
        return view

    async def _send(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> AsyncGenerator[ThreadView]:
        """The thread's view when the run starts (`running`), then when it stops."""
        caller = _caller(context)
        message = params.message
        content = _whole_numbers(_content(message))
        what = "message.parts[0].data"
        try:
            if message.task_id:
                await self._view(caller, message.task_id)
                interrupt_id = None
                if message.HasField("metadata") and "interrupt_id" in message.metadata:
                    interrupt_id = str(message.metadata["interrupt_id"])
                current, resume = await calls.check_answer(
                    caller, message.task_id, content, interrupt_id=interrupt_id, what=what
                )
                yield ThreadView(current.thread_id, self.graph, "running")
                yield await calls.run_answer(caller, current, resume)
                return
            thread_id = await calls.create(caller, self.graph, content, what=what)
            yield ThreadView(thread_id, self.graph, "running")
            yield await calls.run_input(caller, thread_id, self.graph, content)
        except ThreadNotFound:
            raise TaskNotFoundError(message=f"task {message.task_id} not found") from None
        except BadInput as bad:
            raise InvalidParamsError(message=str(bad), data={"field": bad.field}) from None
        except Halted as halted:
            raise InvalidRequestError(message=str(halted)) from None

    async def on_message_send(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> Task | Message:
        """Start a task, or answer the question it waits on; the task when the run stops."""
        last: ThreadView | None = None
        async for view in self._send(params, context):
            last = view
        assert last is not None
        return task_of(last)

    async def on_message_send_stream(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event]:
        """As `on_message_send`: the task as working first, then its state when the run stops."""
        first = True
        async for view in self._send(params, context):
            task = task_of(view)
            if first:
                yield task
                first = False
                continue
            yield TaskStatusUpdateEvent(
                task_id=view.thread_id, context_id=view.thread_id, status=task.status
            )
            yield task

    async def on_get_task(self, params: GetTaskRequest, context: ServerCallContext) -> Task | None:
        """The task (thread) as it stands."""
        return task_of(await self._view(_caller(context), params.id))

    async def on_cancel_task(
        self, params: CancelTaskRequest, context: ServerCallContext
    ) -> Task | None:
        """Waypoint's kill of the thread: it halts before its next node (state `canceled`)."""
        caller = _caller(context)
        await self._view(caller, params.id)
        reason = "canceled through A2A"
        if params.HasField("metadata") and "reason" in params.metadata:
            reason = str(params.metadata["reason"])
        try:
            return task_of(await calls.kill(caller, params.id, reason))
        except ThreadNotFound:  # a reviewer may read the task, not cancel it
            raise TaskNotFoundError(message=f"task {params.id} not found") from None

    async def on_list_tasks(
        self, params: ListTasksRequest, context: ServerCallContext
    ) -> ListTasksResponse:
        """Not offered: list threads through the LangGraph API (`threads.search`)."""
        raise UnsupportedOperationError(message="tasks/list: use the LangGraph threads API")

    async def on_create_task_push_notification_config(
        self, params: TaskPushNotificationConfig, context: ServerCallContext
    ) -> TaskPushNotificationConfig:
        """Not offered: Waypoint's webhooks are configured on the server (`waypoint notify`)."""
        raise PushNotificationNotSupportedError()

    async def on_get_task_push_notification_config(
        self, params: GetTaskPushNotificationConfigRequest, context: ServerCallContext
    ) -> TaskPushNotificationConfig:
        """Not offered."""
        raise PushNotificationNotSupportedError()

    async def on_list_task_push_notification_configs(
        self, params: ListTaskPushNotificationConfigsRequest, context: ServerCallContext
    ) -> ListTaskPushNotificationConfigsResponse:
        """Not offered."""
        raise PushNotificationNotSupportedError()

    async def on_delete_task_push_notification_config(
        self, params: DeleteTaskPushNotificationConfigRequest, context: ServerCallContext
    ) -> None:
        """Not offered."""
        raise PushNotificationNotSupportedError()

    async def on_subscribe_to_task(
        self, params: SubscribeToTaskRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event]:
        """Not offered: `GetTask` reads a task's state."""
        raise UnsupportedOperationError(message="SubscribeToTask: poll GetTask instead")
        yield  # pragma: no cover

    async def on_get_extended_agent_card(
        self, params: GetExtendedAgentCardRequest, context: ServerCallContext
    ) -> AgentCard:
        """Not offered: the public card is the whole card."""
        raise UnsupportedOperationError(message="no extended agent card")


def agent_card(graph: str, base_url: str) -> AgentCard:
    """Workflow `graph`'s agent card: one skill, its description and input schema."""
    from waypoint.server.describe import describe

    about = describe(graph)
    schema = json.dumps(about.input_schema, separators=(",", ":"))
    return AgentCard(
        name=graph,
        description=about.description,
        version="1",
        supported_interfaces=[
            AgentInterface(
                url=f"{base_url}/a2a/{graph}", protocol_binding="JSONRPC", protocol_version="1.0"
            )
        ],
        capabilities=AgentCapabilities(streaming=True, push_notifications=False),
        security_schemes={
            "bearer": SecurityScheme(
                http_auth_security_scheme=HTTPAuthSecurityScheme(
                    scheme="Bearer", description="a Waypoint API key (WAYPOINT_API_KEYS)"
                )
            )
        },
        security_requirements=[SecurityRequirement(schemes={"bearer": StringList()})],
        default_input_modes=["application/json", "text/plain"],
        default_output_modes=["application/json", "text/plain"],
        skills=[
            AgentSkill(
                id=graph,
                name=graph,
                description=(
                    f"{about.description} Send the input as a data part; its JSON schema: "
                    f"{schema}. Side effects: {', '.join(about.effects) or 'none declared'}."
                ),
                tags=["waypoint", "langgraph", *about.effects],
                examples=[json.dumps(example) for example in about.examples],
                input_modes=["application/json"],
                output_modes=["application/json"],
            )
        ],
    )
