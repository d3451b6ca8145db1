"""finchain's real-time compute engine.

Keyed operators over event time with watermarks and allowed lateness (late events go to a side
output), per-event lookback, tumbling, hopping and session windows built from mergeable partials,
incremental statistics, a rule language compiled to closures, LMDB checkpoints, and indicator
queries over the Redis protocol and HTTP. See ``docs/stream.md``.
"""

from finchain.stream.engine import Alert, BatchResult, Engine
from finchain.stream.errors import RuleSyntaxError, StreamError

__all__ = ["Alert", "BatchResult", "Engine", "RuleSyntaxError", "StreamError"]
