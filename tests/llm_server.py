"""Two real OpenAI-compatible servers on loopback for the LLM judge's tests and benchmark.

- `FaultServer`: an HTTP server in a thread that speaks the chat-completions wire format and
  misbehaves on purpose. A conversation asks for a behaviour by carrying `FAULT:<spec>:<tag>` in
  its text; the server counts requests per marker (repairs included) and answers:
    ok            a valid verdict
    429xN/500xN   HTTP 429 (with `Retry-After: 1`) / 500 for the first N requests, then ok
    429/500       always that status (retries must stay bounded)
    slow          a reply later than the client's timeout, every time
    slowxN        slow for the first N requests, then ok
    truncated     a verdict cut off half-way (finish_reason "length"), every time
    truncatedx1   cut off once, then ok (the repair request succeeds)
    schema        JSON that violates the schema (tone_score 9), every time
    control       a valid verdict with raw control characters inside its strings
  `die_after=N` drops every connection after N chat requests (the endpoint went away).
  `refuse_key=True` answers 401 to everything (a wrong key).
  `reject_json_schema=True` makes it refuse `response_format` `json_schema` like
  llama-cpp-python's server does (HTTP 500 naming the format). It never echoes the API key; it
  records the Authorization headers it saw so tests can check the key was sent.

- `llama_server()`: llama-cpp-python's server, for real, serving a tiny random-weight llama model
  that `write_tiny_llama()` writes with the `gguf` package (2 layers, 64 wide, a byte-level
  vocabulary). Its answers are a stand-in for model quality (random weights: mostly nonsense),
  real for the wire: HTTP, the chat template, grammar-constrained JSON from the schema.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["FaultServer", "free_port", "llama_server", "valid_verdict", "write_tiny_llama"]

_MARKER = re.compile(r"FAULT:([a-z0-9]+):(\w+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def valid_verdict(topic: str = "billing_payments") -> dict[str, Any]:
    return {
        "issues": [{"summary": "double charge", "status": "resolved", "evidence": "refunded"}],
        "sentiment_start": -0.5,
        "sentiment_end": 0.6,
        "sentiment_trajectory": "improved",
        "tone_score": 5,
        "knowledge_score": 4,
        "timeliness_score": None,
        "loop_count": 0,
        "needless_clarification_count": 0,
        "broken_handoff_count": 0,
        "topic": topic,
        "rationale": "The agent refunded the duplicate charge and the customer thanked them.",
    }


@dataclass
class Seen:
    marker: str | None
    time: float
    auth: str
    response_format: str | None
    messages: int
    status: int = 0


@dataclass
class FaultServer:
    """The fault-injecting server; use as a context manager; `url` is its `/v1` base."""

    reject_json_schema: bool = False
    refuse_key: bool = False
    die_after: int | None = None
    slow_s: float = 2.0
    requests: list[Seen] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    port: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._answered = 0
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def chat_requests(self) -> list[Seen]:
        return [r for r in self.requests if r.marker != "(models)"]

    def __enter__(self) -> FaultServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

            def _refused(self, marker: str) -> bool:
                if not server.refuse_key:
                    return False
                auth = self.headers.get("Authorization", "")
                with server._lock:
                    server.requests.append(Seen(marker, time.monotonic(), auth, None, 0, 401))
                self._send(401, {"error": {"message": "Incorrect API key provided"}})
                return True

            def do_GET(self) -> None:
                if self._refused("(models)"):
                    return
                with server._lock:
                    server.requests.append(
                        Seen(
                            "(models)",
                            time.monotonic(),
                            self.headers.get("Authorization", ""),
                            None,
                            0,
                        )
                    )
                self._send(200, {"object": "list", "data": [{"id": "fault", "object": "model"}]})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                request = json.loads(self.rfile.read(length))
                if self._refused("(chat)"):
                    return
                with server._lock:
                    dead = server.die_after is not None and server._answered >= server.die_after
                    server._answered += 1
                if dead:  # the endpoint went away: drop the connection without a reply
                    self.close_connection = True
                    return
                fmt = (request.get("response_format") or {}).get("type")
                found = _MARKER.search(request["messages"][1]["content"])
                marker = found.group(0) if found else None
                spec = found.group(1) if found else "ok"
                with server._lock:
                    seen = Seen(
                        marker,
                        time.monotonic(),
                        self.headers.get("Authorization", ""),
                        fmt,
                        len(request["messages"]),
                    )
                    server.requests.append(seen)
                    if server.reject_json_schema and fmt == "json_schema":
                        seen.status = 500
                        self._send(
                            500,
                            {"error": {"message": "response_format json_schema is not supported"}},
                        )
                        return
                    server.counts[marker or ""] += 1
                    nth = server.counts[marker or ""]
                status, content, finish = server._behave(spec, nth, len(request["messages"]))
                seen.status = status
                if status == -1:  # slow: answer after the client gave up
                    time.sleep(server.slow_s)
                    status, content, finish = 200, json.dumps(valid_verdict()), "stop"
                if status == 429:
                    self._send(429, {"error": {"message": "rate limited"}}, {"Retry-After": "1"})
                elif status >= 500:
                    self._send(status, {"error": {"message": "upstream exploded"}})
                else:
                    self._send(
                        200,
                        {
                            "id": "chatcmpl-fault",
                            "object": "chat.completion",
                            "created": int(time.time()),
                            "model": request.get("model", "fault"),
                            "choices": [
                                {
                                    "index": 0,
                                    "message": {"role": "assistant", "content": content},
                                    "finish_reason": finish,
                                }
                            ],
                            "usage": {
                                "prompt_tokens": 100,
                                "completion_tokens": 50,
                                "total_tokens": 150,
                            },
                        },
                    )

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def _behave(self, spec: str, nth: int, n_messages: int) -> tuple[int, str, str]:
        ok = (200, json.dumps(valid_verdict()), "stop")
        if spec == "ok":
            return ok
        counted = re.fullmatch(r"(429|500|slow|truncated)x(\d+)", spec)
        if counted:
            kind, times = counted.group(1), int(counted.group(2))
            if nth > times:
                return ok
            spec = kind
        if spec in ("429", "500"):
            return int(spec), "", ""
        if spec == "slow":
            return -1, "", ""
        if spec == "truncated":
            text = json.dumps(valid_verdict())
            return 200, text[: len(text) // 2], "length"
        if spec == "schema":
            return 200, json.dumps({**valid_verdict(), "tone_score": 9}), "stop"
        if spec == "control":
            body = valid_verdict()
            body["rationale"] = "Refunded\x01 the\x1f charge\x07."
            body["issues"][0]["summary"] = "double\x00 charge"
            text = json.dumps(body).replace("\\u0001", "\x01").replace("\\u001f", "\x1f")
            return 200, text.replace("\\u0007", "\x07").replace("\\u0000", "\x00"), "stop"
        raise ValueError(f"unknown fault {spec!r}")

    def __exit__(self, *exc: object) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()


# -- llama-cpp-python's server with a tiny random-weight model -----------------------------------


#: Logit nudges towards the tokens that close a JSON value, so that grammar-constrained replies
#: of a random model end in a few hundred tokens instead of running to the reply budget.
_CLOSING_NUDGE = {'"': 1.2, "]": 1.0, ",": 0.9, "1": 0.4}


def write_tiny_llama(
    path: Path, *, n_ctx: int = 8192, seed: int = 0, nudge: dict[str, float] | None = None
) -> Path:
    """A random-weight llama model in GGUF: 2 layers, 64 wide, byte-level vocabulary (~0.5 MB).

    Every weight is random, except that dimension 0 of each token embedding is a constant, and
    the output rows of a few closing tokens (`_CLOSING_NUDGE`) read it: a constant logit bonus.
    Under the JSON grammar that makes strings and arrays end soon (an empty string is likely, a
    long rambling one possible), so some replies are valid verdicts and others are not.
    """
    import gguf
    import numpy as np

    rng = np.random.default_rng(seed)
    n_embd, n_ff, n_layer, n_head = 64, 128, 2, 4
    # SentencePiece-style vocabulary: unk/bos/eos, every byte (byte fallback), the printable
    # ASCII characters and the SentencePiece space, so text round-trips character by character.
    tokens: list[bytes] = [b"<unk>", b"<s>", b"</s>"]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    tokens += [f"<0x{b:02X}>".encode() for b in range(256)]
    types += [gguf.TokenType.BYTE] * 256
    printable = [chr(c) for c in range(33, 127)] + ["\u2581"]
    tokens += [c.encode() for c in printable]
    types += [gguf.TokenType.NORMAL] * len(printable)
    n_vocab = len(tokens)

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("cx-tiny-random")
    writer.add_context_length(n_ctx)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head)
    writer.add_rope_dimension_count(n_embd // n_head)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * 3 + [-1000.0] * 256 + [-1.0] * len(printable))
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_chat_template(
        "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
    )

    def weights(*shape: int, scale: float = 0.2) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    embeddings = weights(n_vocab, n_embd)
    embeddings[:, 0] = 4.0
    output = weights(n_vocab, n_embd, scale=0.1)
    output[:, 0] = 0.0
    output[3:259, 0] = -1.0  # byte tokens: rarely chosen, so replies stay printable ASCII
    for char, bonus in (nudge if nudge is not None else _CLOSING_NUDGE).items():
        output[tokens.index(char.encode()), 0] = bonus
    writer.add_tensor("token_embd.weight", embeddings)
    writer.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
    writer.add_tensor("output.weight", output)
    for i in range(n_layer):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(n_embd, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v"):
            writer.add_tensor(f"blk.{i}.{name}.weight", weights(n_embd, n_embd))
        # small layer outputs: the residual stream keeps the embedding's constant dimension
        writer.add_tensor(f"blk.{i}.attn_output.weight", weights(n_embd, n_embd, scale=0.02))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(n_embd, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", weights(n_ff, n_embd))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", weights(n_ff, n_embd))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", weights(n_embd, n_ff, scale=0.02))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@contextlib.contextmanager
def llama_server(
    model: Path, *, n_ctx: int = 8192, log: Path | None = None, timeout_s: float = 120
) -> Iterator[str]:
    """Start `python -m llama_cpp.server` on a free loopback port; yield its `/v1` URL; stop it
    by its process (terminate, then kill)."""
    port = free_port()
    out = open(log, "wb") if log is not None else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            str(n_ctx),
            "--n_threads",
            "2",
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                detail = log.read_text(errors="replace")[-3000:] if log is not None else ""
                raise RuntimeError(f"llama_cpp.server exited with {process.returncode}\n{detail}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server did not answer on {url} in {timeout_s} s")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if out is not subprocess.DEVNULL:
            out.close()
