from tests.engine.helpers import engine_server

__all__ = ["engine_server"]
