"""Prefect flows: thin drivers of the DVC stages (the stage logic lives in t2igan.stages)."""
