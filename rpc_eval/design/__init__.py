"""Study design: how many LAs and parents an evaluation needs.

:mod:`~rpc_eval.design.power` gives closed-form power and sample sizes for clustered
designs and power by simulation, which runs the package's own analyses
(:mod:`rpc_eval.change`, :mod:`rpc_eval.multilevel`) on simulated data; this stage
therefore comes after the analyses in the pipeline.
"""
