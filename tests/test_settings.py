"""The one settings tree: sections read their own environment prefixes, every field is
documented, and the knowledge package sees the root's section."""

from __future__ import annotations

from pydantic import BaseModel

from roundtable_tui.config import BuildSettings, KnowledgeSettings, Settings
from roundtable_tui.kernels.build import Builder
from roundtable_tui.knowledge import settings as knowledge_settings_module


def test_sections_read_their_own_environment(monkeypatch):
    monkeypatch.setenv("ROUNDTABLE_TIMEOUT_S", "12.5")
    monkeypatch.setenv("ROUNDTABLE_BUILD_CPU_S", "77")
    monkeypatch.setenv("ROUNDTABLE_BUILD_DISK_MB", "64")
    monkeypatch.setenv("ROUNDTABLE_KNOWLEDGE_BATCH_SIZE", "5")
    cfg = Settings()
    assert cfg.timeout_s == 12.5
    assert (cfg.build.cpu_s, cfg.build.disk_mb) == (77, 64)
    assert cfg.knowledge.batch_size == 5
    limits = Builder(cfg).limits
    assert (limits.cpu_s, limits.disk_mb) == (77, 64)


def test_every_field_of_every_section_is_documented():
    def fields(model: type[BaseModel], prefix: str = ""):
        for name, info in model.model_fields.items():
            yield prefix + name, info
            ann = info.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                yield from fields(ann, f"{prefix}{name}.")

    missing = [name for name, info in fields(Settings) if not (info.description or "").strip()]
    assert missing == []
    names = {name for name, _ in fields(Settings)}
    assert {"build.memory_mb", "knowledge.embedding_model", "target_cpu"} <= names


def test_the_knowledge_package_uses_the_roots_section(monkeypatch):
    from roundtable_tui import config

    root = Settings(knowledge=KnowledgeSettings(chunk_min_chars=300, chunk_max_chars=900))
    monkeypatch.setattr(config, "settings", lambda: root)
    monkeypatch.setattr(knowledge_settings_module, "settings", lambda: root)
    assert knowledge_settings_module.knowledge_settings().chunk_min_chars == 300
    assert BuildSettings().memory_mb == Settings().build.memory_mb


def test_threads_follow_the_affinity_mask_and_work_without_one(monkeypatch):
    """A process limited to fewer CPUs than the host has (a container, taskset) uses as many
    threads as it may run on; on an OS without an affinity call (macOS), every CPU."""
    import os

    from roundtable_tui.config import usable_cpus

    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 3}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert usable_cpus() == 2 and Settings(threads=0).n_threads == 2
    monkeypatch.delattr(os, "sched_getaffinity")
    assert usable_cpus() == 64
    assert Settings(threads=3).n_threads == 3
