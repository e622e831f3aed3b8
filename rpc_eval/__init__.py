"""rpc_eval: evaluation toolkit for family-support programmes such as the UK Reducing
Parental Conflict (RPC) programme.

Data flows one way: :mod:`rpc_eval.data` (intake and validation) ->
:mod:`rpc_eval.instruments` (questionnaire scoring) -> analyses -> :mod:`rpc_eval.report`.
"""

from rpc_eval.errors import DataValidationError, RpcEvalError

__version__ = "0.1.0"
__all__ = ["__version__", "RpcEvalError", "DataValidationError"]
