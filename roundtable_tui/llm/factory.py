"""`--model` strings to backends: embedded, small, a .gguf path, openai:URL#MODEL, scripted:FILE."""

from __future__ import annotations

from pathlib import Path

from roundtable_tui.llm.backend import Backend, LLMError

MODEL_FORMS = "embedded, small, a path to a .gguf file, or openai:URL#MODEL"


def open_backend(spec: str) -> Backend:
    if spec.startswith("openai:"):
        from roundtable_tui.llm.openai_compat import OpenAICompatBackend

        return OpenAICompatBackend(spec)
    if spec.startswith("scripted:"):
        from roundtable_tui.llm.scripted import ScriptedBackend

        return ScriptedBackend.from_file(Path(spec.removeprefix("scripted:")))
    from roundtable_tui.llm import models
    from roundtable_tui.llm.llama_cpp import LlamaCppBackend

    try:
        path = models.resolve(spec)
    except models.ModelError as exc:
        raise LLMError(str(exc)) from exc
    title = models.MODELS[spec].title if spec in models.MODELS else path.stem
    return LlamaCppBackend(path, name=f"{title} ({spec})" if spec in models.MODELS else title)
