"""A local OpenAI-compatible chat server for tests: a boundary fake.

No LLM weights can run on these machines (none ship in any installable package, and the
machines have no GPU), so the tests stand this stub where an organisation's vLLM / Ollama /
llama.cpp server would be. It speaks the wire format the `openai` client expects
(`GET /v1/models`, `POST /v1/chat/completions` with and without `stream`, server-sent events)
and records every request, so tests check the plumbing: what we send and how we handle what
comes back. It says nothing about answer quality.

    with StubLLM(reply="답입니다 [1].") as stub:
        settings = Settings(llm_base_url=stub.url, llm_model="stub-model")

Run alone (for a browser test or by hand): `python -m tests.llm_stub --port 8765`.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Reply = str | Callable[[dict], str]


def echo_first_source(body: dict) -> str:
    """A plumbing reply: the first line of text of source [1], cited [1]."""
    user = next((m["content"] for m in body.get("messages", []) if m.get("role") == "user"), "")
    m = re.search(r"^\[1\][^\n]*\n([^\n]+)", user, re.M)
    first = m.group(1).strip()[:120] if m else "근거"
    return f"출처에 따르면 {first} [1]."


class StubLLM:
    """Serves one configured behaviour on 127.0.0.1 (an ephemeral port unless `port` is given)."""

    def __init__(self, reply: Reply = echo_first_source, *, status: int = 200, delay: float = 0.0,
                 chunk_delay: float = 0.0, refusal: str = "", finish_reason: str = "stop", chunk_chars: int = 4,
                 models: tuple[str, ...] = ("stub-model",), port: int = 0):
        self.reply = reply
        self.status = status
        self.delay = delay  # seconds before the response headers
        self.chunk_delay = chunk_delay  # seconds between streamed chunks
        self.refusal = refusal
        self.finish_reason = finish_reason
        self.chunk_chars = chunk_chars
        self.models = models
        self.requests: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> StubLLM:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits forever on a server that never started
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> StubLLM:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _text(self, body: dict) -> str:
        return self.reply(body) if callable(self.reply) else self.reply

    def _handler(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _json(self, status: int, value: dict) -> None:
                data = json.dumps(value, ensure_ascii=False).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._json(200, {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "stub"}
                                                                for m in stub.models]})
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                stub.requests.append(body)
                stub.headers.append(dict(self.headers))
                if stub.delay:
                    time.sleep(stub.delay)
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._json(404, {"error": {"message": "not found"}})
                    return
                if stub.status != 200:
                    self._json(stub.status, {"error": {"message": f"stub error {stub.status}", "type": "stub"}})
                    return
                text = stub._text(body)
                if not body.get("stream"):
                    self._json(200, {"id": "stub-1", "object": "chat.completion", "created": 0,
                                     "model": body.get("model", ""),
                                     "choices": [{"index": 0, "finish_reason": stub.finish_reason,
                                                  "message": {"role": "assistant", "content": text}}],
                                     "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                pieces = [text[i:i + stub.chunk_chars] for i in range(0, len(text), stub.chunk_chars)]
                deltas: list[dict] = [{"role": "assistant", "content": ""}]
                deltas += [{"content": p} for p in pieces]
                if stub.refusal:
                    deltas.append({"refusal": stub.refusal})
                try:
                    for i, delta in enumerate(deltas):
                        last = i == len(deltas) - 1
                        self._event({"id": "stub-1", "object": "chat.completion.chunk", "created": 0,
                                     "model": body.get("model", ""),
                                     "choices": [{"index": 0, "delta": delta,
                                                  "finish_reason": stub.finish_reason if last else None}]})
                        if stub.chunk_delay and i >= 1:  # the role and first text arrive at once
                            time.sleep(stub.chunk_delay)
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                    return
                self.close_connection = True

            def _event(self, value: dict) -> None:
                self.wfile.write(b"data: " + json.dumps(value, ensure_ascii=False).encode("utf-8") + b"\n\n")
                self.wfile.flush()

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description="OpenAI-compatible stub chat server (tests only)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--reply", help="fixed reply (default: echo the first source, cited [1])")
    parser.add_argument("--chunk-delay", type=float, default=0.05)
    args = parser.parse_args()
    stub = StubLLM(args.reply or echo_first_source, chunk_delay=args.chunk_delay, port=args.port)
    print(f"stub LLM on {stub.url}", flush=True)
    try:
        stub._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stub._server.server_close()


if __name__ == "__main__":
    main()
