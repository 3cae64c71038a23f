"""평가: score labelled questions against the indexed documents with the benchmark's own code."""

from __future__ import annotations

import logging

import streamlit as st

from evaluation import indexed
from evaluation.labels import SAMPLE_LABELS as DEFAULT_LABELS
from evaluation.labels import LabelError, read_rows
from evaluation.metrics import METRICS
from evaluation.scoring import CONFIGS
from ui import common
from ui.render import md
from ui.resources import upload_limit_mb

common.ensure_routed()

log = logging.getLogger(__name__)

METRIC_NAMES = {"hit@1": "Hit@1", "recall@5": "Recall@5", "mrr@10": "MRR@10", "ndcg@10": "nDCG@10"}
CONFIG_NAMES = {"rerank": "하이브리드 + 재순위", "hybrid": "하이브리드", "dense": "의미(벡터) 검색만",
                "lexical": "형태소(BM25) 검색만"}
SAMPLE = "내장 예제"
UPLOAD = "CSV 올리기"


def where(expected: list[dict]) -> str:
    return ", ".join(f"{e['file']} {'/'.join(map(str, e['pages']))}쪽" for e in expected)


def metric_row(label: str, means: dict) -> dict:
    return {"구분": label, **{METRIC_NAMES[m]: round(float(means[m]), 3) for m in METRICS}, "질문 수": means["n"]}


def miss_row(miss: dict) -> dict:
    """A question that wasn't answered at rank 1: where the answer is, and what came first instead."""
    first = miss["first"]
    return {
        "질문": miss["question"], "도메인": common.domain_label(miss["domain"]), "정답 위치": where(miss["expected"]),
        "대신 1위로 찾은 곳": where([first]) if first else "(찾은 것 없음)",
        "정답 순위": f"{miss['rank']}위" if miss["rank"] else "10위 밖",
        "1위 구절": first["text"] if first else "",
    }


def show_run(run: dict) -> None:
    overall = run["overall"]
    st.markdown(f"##### 전체 ({overall['n']}문항 · {md(CONFIG_NAMES.get(run['config_key'], run['config_key']))})")
    for col, m in zip(st.columns(len(METRICS)), METRICS):
        col.metric(METRIC_NAMES[m], f"{overall[m]:.3f}")
    st.markdown("##### 도메인별")
    st.dataframe([metric_row(common.domain_label(d if d != "-" else ""), means)
                  for d, means in run["by_domain"].items()], hide_index=True, width="stretch")
    misses = run["misses"]
    st.markdown(f"##### 1위로 맞히지 못한 질문 ({len(misses)}개)")
    if misses:
        st.dataframe([miss_row(m) for m in misses], hide_index=True, width="stretch")
    timings = run["timings"]
    st.caption(f"질문당 검색 시간 중앙값 {timings['query_p50_ms']:,.0f}ms · 95% {timings['query_p95_ms']:,.0f}ms · "
               f"전체 {timings['search_s']:,.1f}초")


def show_excluded(run: dict) -> None:
    if run["excluded"]:
        with st.expander(f"채점에서 뺀 질문 {len(run['excluded'])}개"):
            st.dataframe([{"질문": e["question"], "파일": e["file"], "쪽": e["page"], "이유": e["reason"]}
                          for e in run["excluded"]], hide_index=True, width="stretch")


st.title("평가")
svc = common.require_services()
st.caption("질문과 정답 위치(파일·쪽)를 적은 CSV로 지금 색인된 문서에서 검색 품질을 잽니다. "
           "열: `question`, `file`, `page` (필수), `qid`, `domain` (선택). `file`은 파일 이름으로 색인된 문서와 "
           "맞추고, `page`는 1부터 세며 `5;6`처럼 여러 쪽을 적으면 그중 하나만 찾아도 정답입니다.")

captions = {SAMPLE: f"{DEFAULT_LABELS.name} (allganize, 91문항)", UPLOAD: "question, file, page 열이 있는 CSV"}
sources = [SAMPLE, UPLOAD] if DEFAULT_LABELS.is_file() else [UPLOAD]
source = st.radio("질문 목록", sources, horizontal=True, captions=[captions[s] for s in sources])
upload = None
if source == UPLOAD:
    common.korean_uploader(upload_limit_mb(svc.settings, int(st.get_option("server.maxUploadSize"))))
    upload = st.file_uploader("라벨 CSV", type=["csv"], key="labels_csv")
configs = [c for c in CONFIG_NAMES if c in CONFIGS and (c != "rerank" or svc.searcher.reranker is not None)]
config = st.selectbox("검색 방식", configs, format_func=CONFIG_NAMES.get,
                      help="재순위 모델이 없으면 '하이브리드 + 재순위'는 하이브리드와 같아 목록에서 뺍니다.")

if st.button("평가 실행", type="primary", icon=":material/analytics:", disabled=source == UPLOAD and upload is None):
    try:
        if source == UPLOAD:
            rows, label_source = indexed.read_label_csv(upload.getvalue()), upload.name
        else:
            rows, label_source = read_rows(DEFAULT_LABELS), DEFAULT_LABELS.name
    except LabelError as err:
        log.warning("label file rejected: %s", err)
        st.error("CSV를 읽을 수 없습니다. `question`, `file`, `page` 열이 있는 UTF-8 CSV인지 확인하세요.")
        st.stop()
    except UnicodeDecodeError:
        st.error("CSV를 읽을 수 없습니다. UTF-8 또는 CP949(엑셀)로 저장된 파일인지 확인하세요.")
        st.stop()
    with st.spinner(f"{len(rows)}개 질문으로 검색하는 중입니다…"):
        run = indexed.evaluate_index(svc.searcher, svc.embedder, svc.settings, rows, svc.store.documents(),
                                      config, label_source)
    st.session_state["eval_run"] = {**run, "config_key": config}

run = st.session_state.get("eval_run")
if run is not None:
    if run["overall"]["n"] == 0:
        st.warning("채점할 질문이 없습니다. CSV에 적힌 파일이 색인되어 있지 않습니다. "
                   "문서 페이지에서 해당 PDF를 먼저 올려 주세요.")
        st.page_link("pages/documents.py", label="문서 페이지로 가기", icon=":material/description:")
    else:
        show_run(run)
    show_excluded(run)
