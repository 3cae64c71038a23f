"""Generated answer: an OpenAI-compatible chat server writes a Korean answer from the numbered passages only.

The server is whatever the organisation runs in-house (vLLM, Ollama, llama.cpp server, a
gateway), reached through llama-index's `OpenAILike` LLM (the `openai` package underneath).
`stream_answer()` yields text deltas, then exactly one `AnswerDone` whose answer carries the
cleaned text, the valid citations, the dropped markers, or a Korean error message; it never
raises for server trouble, so the page keeps its cards whatever the server does.

llama-index's citation query engine is not used: it re-splits the sources into its own numbered
chunks with an English prompt, so its [n] would not match the cards; the prompt here is Korean and
the numbers are the card numbers.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from answer.citations import citation, clean_markers, dropped_note
from docqa.config import Settings
from docqa.text import split_sentences
from docqa.types import Hit, SearchResult

log = logging.getLogger(__name__)

NOT_FOUND = "문서에서 근거를 찾지 못했습니다"
SYSTEM_PROMPT = f"""당신은 기관 내부 문서를 근거로 질문에 답하는 한국어 도우미입니다. 다음 규칙을 반드시 지키세요.
1. 아래에 번호를 붙여 준 출처의 내용만으로 답하세요. 출처에 없는 지식, 추측, 일반 상식을 보태지 마세요.
2. 모든 문장 끝에 그 문장의 근거가 된 출처 번호를 [1], [2]처럼 붙이세요. 근거가 여럿이면 [1][3]처럼 이어 붙이세요.
3. 출처 번호는 주어진 번호만 쓰세요. 번호를 지어내지 마세요.
4. 출처에 질문의 답이 없으면 다른 말 없이 "{NOT_FOUND}."라고만 답하세요.
5. 숫자, 날짜, 금액, 비율, 기관명, 법 조항은 출처에 적힌 그대로 옮기세요.
6. 한국어로, 간결하게 답하세요."""
USER_TEMPLATE = "출처:\n\n{sources}\n\n질문: {question}\n\n위 출처만 근거로, 모든 문장에 출처 번호를 붙여 답하세요."
SOURCE_TEMPLATE = "[{n}] {citation}\n{text}"
PROMPT_MARGIN_TOKENS = 64  # chat-template tokens around the messages, and estimate error


@dataclass(frozen=True)
class GeneratedAnswer:
    """What the model wrote, checked against the passages it was given."""

    text: str  # cleaned answer (markers normalised, invalid ones removed, a note saying so); may be partial
    cited: tuple[int, ...] = ()  # card numbers cited, in order of first use
    dropped: tuple[int, ...] = ()  # marker numbers that pointed at no passage given to the model
    sources: tuple[int, ...] = ()  # card numbers sent to the model (the passage budget may cut the tail)
    not_found: bool = False  # the model said the sources don't hold the answer
    uncited_sentences: int = 0  # sentences without any marker (the prompt asks for one on each)
    error: str = ""  # Korean message when the server failed; `text` then holds what arrived before
    model: str = ""
    finish_reason: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)  # first_token, total

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass(frozen=True)
class AnswerDelta:
    """A piece of the answer as it streams (raw model text; markers are checked at the end)."""

    text: str


@dataclass(frozen=True)
class AnswerDone:
    """The last event of every stream."""

    answer: GeneratedAnswer


class LLMUnavailable(Exception):
    """Raised inside the stream for a refusal or an empty answer; turned into `GeneratedAnswer.error`."""


# --------------------------------------------------------------------------- configuration
def llm_status(settings: Settings) -> str:
    """One Korean line for the sidebar/CLI: whether a generated answer is on, which model and server."""
    if not settings.llm_configured:
        return "생성 답변 꺼짐 (RAG_LLM_BASE_URL 미설정): 발췌 답변만 보여 줍니다."
    model = settings.llm_model or "서버 기본 모델"
    return f"생성 답변 켜짐: {model} @ {safe_url(settings.llm_base_url)}"


def safe_url(url: str) -> str:
    """`url` without user:password, for display."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def make_llm(settings: Settings):
    """llama-index `OpenAILike` for the configured server, or None when none is configured.

    No retries (a slow server would triple the wait), low temperature (answers copy the sources).
    """
    if not settings.llm_configured:
        return None
    from llama_index.llms.openai_like import OpenAILike

    return OpenAILike(model=settings.llm_model, api_base=settings.llm_base_url.rstrip("/"),
                      api_key=settings.llm_api_key or "none", is_chat_model=True, is_function_calling_model=False,
                      context_window=settings.llm_context_tokens, max_tokens=settings.llm_max_tokens,
                      temperature=0.1, timeout=settings.llm_timeout, max_retries=0)


# --------------------------------------------------------------------------- prompt
_WIDE = re.compile(r"[\u1100-\u11ff\u3000-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")


def estimate_tokens(text: str) -> int:
    """A conservative token count without the server's tokenizer: one per Hangul/CJK character
    (byte-level BPE vocabularies spend about that on Korean), one per three other characters."""
    wide = len(_WIDE.findall(text))
    return wide + (len(text) - wide + 2) // 3


def fit_passages(question: str, hits: Sequence[Hit], context_tokens: int, max_tokens: int) -> list[tuple[int, str]]:
    """(card number, text) of the leading hits that fit the model's window after the prompt and the answer.

    Passages go in rank order and whole, so [n] is card n; the first is cut to fit rather than
    dropped (an answer from part of the best passage beats none).
    """
    fixed = estimate_tokens(SYSTEM_PROMPT + USER_TEMPLATE + question) + PROMPT_MARGIN_TOKENS
    budget = context_tokens - max_tokens - fixed
    out: list[tuple[int, str]] = []
    for n, hit in enumerate(hits, start=1):
        text = hit.chunk.text.strip()
        cost = estimate_tokens(SOURCE_TEMPLATE.format(n=n, citation=citation(hit), text=text)) + 2
        if cost > budget:
            if not out and budget > 50:
                keep = _cut_to_tokens(text, budget - estimate_tokens(citation(hit)) - 8)
                out.append((n, keep))
            break
        out.append((n, text))
        budget -= cost
    return out


def _cut_to_tokens(text: str, tokens: int) -> str:
    lo, hi = 0, len(text)
    while lo < hi:  # longest prefix within the estimate
        mid = (lo + hi + 1) // 2
        if estimate_tokens(text[:mid]) <= tokens:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + " …"


def build_messages(question: str, hits: Sequence[Hit], settings: Settings) -> tuple[list[dict[str, str]], list[int]]:
    """The chat messages (system rules, numbered sources and the question) and the card numbers sent."""
    passages = fit_passages(question, hits, settings.llm_context_tokens, settings.llm_max_tokens)
    sources = "\n\n".join(SOURCE_TEMPLATE.format(n=n, citation=citation(hits[n - 1]), text=text)
                          for n, text in passages)
    user = USER_TEMPLATE.format(sources=sources, question=question)
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}], [n for n, _ in passages]


# --------------------------------------------------------------------------- streaming
def stream_answer(question: str, hits: Sequence[Hit] | SearchResult, settings: Settings,
                  llm=None) -> Iterator[AnswerDelta | AnswerDone]:
    """Stream a generated answer: `AnswerDelta`s, then one `AnswerDone` (always, also on errors).

    `llm` is `make_llm(settings)` (create it once and reuse it); built here when omitted.
    With no passages the model is not asked: the answer is the not-found sentence.
    """
    if isinstance(hits, SearchResult):
        hits = hits.hits
    hits = list(hits)
    started = time.perf_counter()
    if llm is None:
        llm = make_llm(settings)
    if llm is None:
        yield AnswerDone(GeneratedAnswer("", error="언어 모델 서버가 설정되지 않았습니다 (RAG_LLM_BASE_URL)."))
        return
    if not hits:
        yield AnswerDone(GeneratedAnswer(f"{NOT_FOUND}.", not_found=True, model=llm.model))
        return
    messages, sources = build_messages(question, hits, settings)
    if not sources:
        yield AnswerDone(GeneratedAnswer("", error="질문이 너무 길어 언어 모델의 문맥 길이(RAG_LLM_CONTEXT_TOKENS)에 "
                                                   "근거 문단을 넣을 수 없습니다."))
        return
    raw, shown, finish, first_ms, error = "", "", "", None, ""
    try:
        if not llm.model:
            llm.model = _server_model(llm)
        from llama_index.core.llms import ChatMessage

        chat = [ChatMessage(role=m["role"], content=m["content"]) for m in messages]
        refusal = ""
        for chunk in llm.stream_chat(chat):
            choice = _choice(chunk.raw)
            if choice is not None:
                finish = choice.finish_reason or finish
                refusal += getattr(choice.delta, "refusal", None) or ""
            raw += chunk.delta or ""
            visible = _visible(raw)
            if len(visible) > len(shown) and visible.startswith(shown):
                if first_ms is None:
                    first_ms = (time.perf_counter() - started) * 1000
                yield AnswerDelta(visible[len(shown):])
                shown = visible
        if refusal or finish == "content_filter":
            log.warning("LLM refused (finish_reason=%s): %s", finish, refusal[:200])
            raise LLMUnavailable("언어 모델이 답변을 거부했습니다. 아래 근거 문단을 직접 확인하세요.")
        if not _visible(raw, final=True).strip():
            raise LLMUnavailable("언어 모델이 빈 답변을 보냈습니다. 아래 근거 문단을 직접 확인하세요.")
    except LLMUnavailable as exc:
        error = str(exc)
    except Exception as exc:  # noqa: BLE001 - any server/transport failure becomes a Korean message, logged
        error = server_error_message(exc, settings)
        log.warning("LLM request failed: %s", exc, exc_info=not _is_api_error(exc))
    timings = {"total": (time.perf_counter() - started) * 1000}
    if first_ms is not None:
        timings["first_token"] = first_ms
    yield AnswerDone(finish_answer(_visible(raw, final=True), sources, model=llm.model, finish_reason=finish,
                                   error=error, timings_ms=timings))


def finish_answer(text: str, sources: Sequence[int], *, model: str = "", finish_reason: str = "", error: str = "",
                  timings_ms: dict[str, float] | None = None) -> GeneratedAnswer:
    """Check the markers of a complete answer against the card numbers that were sent."""
    cleaned = clean_markers(text, sources)
    body = cleaned.text
    not_found = NOT_FOUND in re.sub(r"\s+", " ", body)
    if cleaned.dropped:
        body = f"{body}\n\n{dropped_note(cleaned.dropped)}"
    if finish_reason == "length" and not error:
        body = f"{body}\n\n(답변이 최대 길이(RAG_LLM_MAX_TOKENS)에서 잘렸습니다.)"
    uncited = 0 if not_found else sum(1 for s in split_sentences(cleaned.text)
                                      if len(s) > 5 and "[" not in s)
    return GeneratedAnswer(body.strip(), cleaned.cited, cleaned.dropped, tuple(sources), not_found, uncited, error,
                           model, finish_reason, dict(timings_ms or {}))


def collect(events: Iterator[AnswerDelta | AnswerDone]) -> GeneratedAnswer:
    """Run a stream to its end and return the final answer (for the CLI and scripts)."""
    final = None
    for event in events:
        if isinstance(event, AnswerDone):
            final = event.answer
    assert final is not None, "stream_answer always ends with AnswerDone"
    return final


def _choice(raw):
    choices = getattr(raw, "choices", None)
    return choices[0] if choices else None


_THINK = re.compile(r"<think>.*?</think>\s*", re.S)


def _visible(raw: str, final: bool = False) -> str:
    """The answer without a reasoning model's <think>…</think> block (hidden while it is still open)."""
    text = _THINK.sub("", raw)
    if "<think>" in text:
        text = text[:text.index("<think>")]
    elif not final:
        for i in range(1, len("<think>")):  # a tag split across two deltas
            if text.endswith("<think>"[:i]):
                return text[:-i]
    return text.lstrip()


def _server_model(llm) -> str:
    """The first model the server lists, for servers that serve one (RAG_LLM_MODEL left empty)."""
    from openai import OpenAI

    client = OpenAI(base_url=llm.api_base, api_key=llm.api_key, timeout=llm.timeout, max_retries=0)
    models = list(client.models.list())
    if not models:
        raise LLMUnavailable("언어 모델 서버에 사용할 수 있는 모델이 없습니다. RAG_LLM_MODEL을 지정하세요.")
    return models[0].id


def _is_api_error(exc: Exception) -> bool:
    """Errors the server or the network caused (logged without a trace)."""
    import httpx
    import openai

    return isinstance(exc, openai.APIError | httpx.TransportError)


def server_error_message(exc: Exception, settings: Settings) -> str:
    """A Korean message for a failed request (what happened and what to check)."""
    import httpx
    import openai

    where = safe_url(settings.llm_base_url)
    tail = " 아래 근거 문단은 그대로 볼 수 있습니다."
    # a stall in the middle of the stream surfaces as httpx's own error, not the client's
    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException):
        return f"언어 모델 서버가 {settings.llm_timeout:g}초 안에 응답하지 않았습니다 (RAG_LLM_TIMEOUT).{tail}"
    if isinstance(exc, openai.APIConnectionError):
        return f"언어 모델 서버({where})에 연결할 수 없습니다. 주소(RAG_LLM_BASE_URL)와 서버 상태를 확인하세요.{tail}"
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return f"언어 모델 서버가 인증을 거부했습니다 (HTTP {exc.status_code}). RAG_LLM_API_KEY를 확인하세요.{tail}"
    if isinstance(exc, openai.NotFoundError):
        return (f"언어 모델 서버에서 모델 '{settings.llm_model}' 또는 주소를 찾지 못했습니다 (HTTP 404). "
                f"RAG_LLM_MODEL과 RAG_LLM_BASE_URL(보통 …/v1)을 확인하세요.{tail}")
    if isinstance(exc, openai.RateLimitError):
        return f"언어 모델 서버가 요청이 많아 거절했습니다 (HTTP 429). 잠시 뒤 다시 시도하세요.{tail}"
    if isinstance(exc, openai.BadRequestError):
        return (f"언어 모델 서버가 요청을 거절했습니다 (HTTP 400). 입력이 모델의 문맥 길이를 넘었다면 "
                f"RAG_LLM_CONTEXT_TOKENS를 줄이세요.{tail}")
    if isinstance(exc, openai.APIStatusError):
        return f"언어 모델 서버 오류입니다 (HTTP {exc.status_code}).{tail}"
    if isinstance(exc, openai.APIError | httpx.TransportError):
        return f"언어 모델 서버의 응답을 읽지 못했습니다 ({type(exc).__name__}).{tail}"
    return f"답변을 만드는 중 오류가 났습니다 ({type(exc).__name__}).{tail}"
