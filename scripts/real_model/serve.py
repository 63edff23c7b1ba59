"""llama.cpp's own HTTP server (embedded in the xllamacpp wheel) on 127.0.0.1, for `just real-model`.

Usage: serve.py MODEL.gguf PORT [CONTEXT] [SLOTS] [THREADS]. Serves until killed.
"""
import sys
import time

import xllamacpp


def main():
    model, port = sys.argv[1], int(sys.argv[2])
    context = int(sys.argv[3]) if len(sys.argv) > 3 else 32768
    slots = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    threads = int(sys.argv[5]) if len(sys.argv) > 5 else 2
    params = xllamacpp.CommonParams()
    params.model.path = model
    params.hostnames = ["127.0.0.1"]
    params.port = port
    # The context is shared by the slots: each trial in flight gets context / slots tokens.
    params.n_ctx = context
    params.n_parallel = slots
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    # The model's own chat template (Jinja) is what parses its tool calls.
    params.use_jinja = True
    server = xllamacpp.Server(params)
    print(f"llama.cpp server for {model} on {server.listening_address}", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
