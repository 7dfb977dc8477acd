"""The knowledge base: papers and notes, and the memory of past attempts, in Chroma."""


class KnowledgeUnavailable(Exception):
    """Raised by `Knowledge.context` (roundtable_tui.core.knowledge) once when the knowledge
    base goes off for the run (a damaged store, a failing embedding model) or is not ready
    yet (still indexing); the message says why in one line. Later calls return [] quietly:
    the engine reports this one and goes on without knowledge."""
