from tests.engine.helpers import engine_server, manual_engine

__all__ = ["engine_server", "manual_engine"]
