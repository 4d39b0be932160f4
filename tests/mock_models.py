"""Offline mock models for unit tests: Inspect's mockllm with outputs that carry usage (no tokenizer download)."""

from collections.abc import Callable

from inspect_ai.model import ChatMessage, GenerateConfig, Model, ModelOutput, ModelUsage, get_model


def text_output(text: str, model: str = "mockllm/model") -> ModelOutput:
    """A ModelOutput with the given text and a usage record."""
    output = ModelOutput.from_content(model=model, content=text)
    output.usage = ModelUsage(input_tokens=10, output_tokens=max(1, len(text.split())), total_tokens=10)
    return output


def mock_model(respond: Callable[[list[ChatMessage], GenerateConfig], str], name: str = "model") -> Model:
    """A mockllm model whose reply is computed from the request's messages and generate config."""

    def generate(messages, tools, tool_choice, config) -> ModelOutput:
        return text_output(respond(messages, config))

    return get_model(f"mockllm/{name}", custom_outputs=generate)


def echo_config(messages: list[ChatMessage], config: GenerateConfig) -> str:
    """A reply that names the temperature and seed it was generated with (a refusal, for the heuristic)."""
    return f"I can't help with that. [temperature={config.temperature} seed={config.seed}]"
