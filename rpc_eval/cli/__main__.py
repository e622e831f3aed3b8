"""``python -m rpc_eval.cli``: the same as the ``rpc-eval`` command."""

import sys

from rpc_eval.cli import main

sys.exit(main())
